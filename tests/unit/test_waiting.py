"""``waiting`` and ``eta`` (``launchq.service.waiting``): each reason in the situation that
causes it, built with the real services over the in-memory store and the package's fake
target and builder; the ETA from the queue's history, with a settable clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from launchq.bootstrap import Services
from launchq.domain.models import Run, RunSpec
from launchq.domain.retry_policy import RetryPolicy
from launchq.domain.states import RunState as S
from launchq.errors import BackendUnavailable
from launchq.ports import TargetStatus
from launchq.service import waiting as waiting_module
from launchq.service.queues import QueueCreate
from launchq.service.waiting import HISTORY_RUNS, MIN_HISTORY, Outlook, WaitingService
from tests.unit.build_world import World
from tests.unit.fakes import Clock, FakeTarget, services


class ThrottledTarget(FakeTarget):
    """The fake target, throttled: every submit fails for a passing reason."""

    def submit(self, run: Run) -> dict[str, str]:
        raise BackendUnavailable("ThrottlingException: rate exceeded")


class Stage:
    """Services on the fake target with a settable clock, and the waiting service over them."""

    def __init__(self, target: FakeTarget | None = None) -> None:
        self.target, self.clock = target or FakeTarget(), Clock()
        self.svc: Services = services(self.target, self.clock)
        self.waiting = WaitingService(self.svc.ctx)

    def queue(self, name: str = "q", max_jobs: int = 1, **settings: object) -> None:
        self.svc.queues.create(
            QueueCreate(name=name, resource="local-process", max_jobs=max_jobs, **settings)
        )

    def enqueue(self, queue: str = "q", priority: str = "medium") -> Run:
        run, _ = self.svc.runs.enqueue(queue, RunSpec(entry_point=["train"], priority=priority))
        return run

    def launch(self, queue: str = "q") -> Run:
        """Dispatch the first run in line of ``queue`` and let its job start running."""
        (launched,) = self.svc.dispatcher.dispatch(queue, limit=1)
        self.target.advance(launched)
        return self.svc.state_changes.on_job_state_change(launched.id)

    def finish(self, run: Run) -> Run:
        self.target.advance(run)
        return self.svc.state_changes.on_job_state_change(run.id)

    def history(self, seconds: list[float], queue: str = "q") -> None:
        """Runs of ``queue`` that ran ``seconds`` each, one after the other."""
        for duration in seconds:
            self.enqueue(queue)
            run = self.launch(queue)
            self.clock.advance(duration)
            assert self.finish(run).state is S.FINISHED

    def outlook(self, run: Run) -> Outlook:
        fresh = self.svc.runs.get(run.id)
        return self.waiting.of_run(fresh, self.svc.runs.events(run.id))


@pytest.fixture
def world() -> Stage:
    return Stage()


# -- queued -----------------------------------------------------------------------------------
def test_runs_ahead_are_counted_by_priority_and_runs_behind_are_not(world: Stage) -> None:
    # GIVEN a one-slot queue with a running job, then a medium run, then runs of other priorities
    world.queue()
    world.enqueue()
    world.launch()
    mine = world.enqueue(priority="medium")
    world.enqueue(priority="low")  # behind it
    world.enqueue(priority="critical")
    world.enqueue(priority="high")
    world.enqueue(priority="high")
    # WHEN its outlook is asked for
    waiting = world.outlook(mine).waiting
    # THEN the three higher-priority runs are ahead of it, the low one is not
    assert waiting is not None
    assert (waiting.kind, waiting.reason) == ("ahead", "3 runs ahead of it (1 critical, 2 high)")
    # and the reason is backed by the event that put it in line
    assert [e.to_state for e in waiting.events] == [S.QUEUED]
    assert waiting.since == waiting.events[0].at
    # the listing says the same, without events (one read of the line for the whole page)
    page = world.waiting.of_page(world.svc.runs.find(queue="q"))
    listed = page[mine.id].waiting
    assert listed is not None
    assert (listed.kind, listed.reason, listed.events) == ("ahead", waiting.reason, ())


def test_a_line_too_long_to_read_whole_counts_the_runs_ahead_from_the_store(
    world: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a line longer than the waiting service reads whole (two runs, here)
    monkeypatch.setattr(waiting_module, "LINE_LIMIT", 2)
    world.queue()
    world.enqueue()
    world.launch()
    mine = world.enqueue()
    critical = world.enqueue(priority="critical")
    high = world.enqueue(priority="high")
    store = world.svc.ctx.store
    listed_states: list[list[S] | None] = []
    read = store.list_runs

    def listing(queue: str | None = None, states: list[S] | None = None, limit: int = 1000) -> list[Run]:
        listed_states.append(None if states is None else sorted(states))
        return read(queue=queue, states=states, limit=limit)

    monkeypatch.setattr(store, "list_runs", listing)
    asked: list[str] = []
    place, places = store.position, store.positions
    monkeypatch.setattr(store, "position", lambda run: asked.append("position") or place(run))
    monkeypatch.setattr(store, "positions", lambda runs: asked.append("positions") or places(runs))
    # THEN the runs ahead are counted by the store, both for the run and in a listing (the
    # whole page's places in one call)
    waiting = world.outlook(mine).waiting
    assert waiting is not None
    assert (waiting.kind, waiting.reason) == ("ahead", "2 runs ahead of it")
    page = world.waiting.of_page(world.svc.runs.find(queue="q"))
    listed = page[mine.id].waiting
    assert listed is not None
    assert listed.reason == "2 runs ahead of it"
    expected = {critical.id: "0 runs ahead of it", high.id: "1 run ahead of it", mine.id: listed.reason}
    reasons = {run_id: outlook.waiting.reason for run_id, outlook in page.items() if outlook.waiting}
    assert reasons == expected
    assert asked == ["position", "positions"]
    # AND the line itself was never read: only the queue's active runs and its history
    assert listed_states
    assert [S.QUEUED] not in listed_states


def test_next_in_line_of_a_full_queue_waits_for_max_jobs(world: Stage) -> None:
    world.queue(max_jobs=2)
    world.enqueue()
    world.enqueue()
    world.launch()
    world.launch()
    mine = world.enqueue()
    waiting = world.outlook(mine).waiting
    assert waiting is not None
    assert (waiting.kind, waiting.reason) == ("queue_full", "queue at max_jobs 2/2")


def test_the_agent_wide_max_jobs_holds_a_run_its_queue_has_room_for(world: Stage) -> None:
    # GIVEN two queues of two slots, one job running in each, and an agent-wide cap of 2
    world.queue("a", max_jobs=2)
    world.queue("b", max_jobs=2)
    world.enqueue("a")
    world.launch("a")
    world.enqueue("b")
    world.launch("b")
    world.svc.ctx.dispatch_cap = 2
    mine = world.enqueue("a")
    # THEN the run first in line of "a" (1 of 2 slots free) waits for the agent-wide cap
    waiting = world.outlook(mine).waiting
    assert waiting is not None
    assert waiting.kind == "agent_full"
    assert waiting.reason == "agent-wide max_jobs reached: 2/2 runs active across its queues"
    # and without the cap it waits for a dispatcher, saying when this queue last saw a claim
    world.svc.ctx.dispatch_cap = None
    world.clock.advance(30)
    waiting = world.outlook(mine).waiting
    assert waiting is not None
    assert waiting.kind == "dispatcher"
    assert waiting.reason == (
        "next in line, 1 of 2 slots free: waiting for a dispatcher to claim it "
        "(last claim on this queue 30s ago)"
    )


def test_an_agents_queue_run_waits_for_an_agent(world: Stage) -> None:
    world.queue(dispatch="agents")
    mine = world.enqueue()
    waiting = world.outlook(mine).waiting
    assert waiting is not None
    assert waiting.kind == "dispatcher"
    assert "waiting for an agent to claim it" in waiting.reason


# -- launched, not started ----------------------------------------------------------------------
def test_a_failed_launch_backing_off_is_a_retry_whose_eta_is_the_next_try() -> None:
    # GIVEN a target that throttles every submit
    world = Stage(ThrottledTarget())
    world.queue(retry=RetryPolicy(max_attempts=3, backoff_seconds=10, max_backoff_seconds=15))
    mine = world.enqueue()
    (claimed,) = world.svc.dispatcher.dispatch("q")
    assert claimed.state is S.CLAIMED
    outlook = world.outlook(mine)
    assert outlook.waiting is not None
    assert outlook.waiting.kind == "retry"
    assert outlook.waiting.reason.startswith("backing off before a retry: launch attempt 1 of 3 failed")
    assert "ThrottlingException" in outlook.waiting.reason
    assert outlook.eta == world.clock.now + timedelta(seconds=10)
    assert outlook.waiting.events[-1].reason.startswith("launch attempt 1 of 3 failed")
    # once the back-off has passed it is no longer a retry: the claim is being launched
    world.clock.advance(11)
    later = world.outlook(mine)
    assert later.waiting is not None
    assert later.waiting.kind == "dispatcher"
    assert later.eta is None


@pytest.mark.parametrize(
    ("detail", "kind", "reason"),
    [
        (
            "Unschedulable: 0/4 nodes are available: 4 Insufficient nvidia.com/gpu.",
            "target",
            "target says: Unschedulable: 0/4 nodes are available: 4 Insufficient nvidia.com/gpu.",
        ),
        (
            "waiting for admission (the job is suspended for Kueue)",
            "admission",
            "waiting for Kueue admission",
        ),
        ("", "target", "submitted to local-process; waiting for it to start"),
    ],
)
def test_a_starting_run_says_what_the_target_says(world: Stage, detail: str, kind: str, reason: str) -> None:
    world.queue()
    world.enqueue()
    (started,) = world.svc.dispatcher.dispatch("q")
    assert started.state is S.STARTING
    world.target.jobs[started.id] = TargetStatus(state="starting", detail=detail, unschedulable=bool(detail))
    waiting = world.outlook(started).waiting
    assert waiting is not None
    assert (waiting.kind, waiting.reason) == (kind, reason)
    assert waiting.events[-1].to_state is S.STARTING
    # a listing does not ask the target
    listed = world.waiting.of_page([world.svc.runs.get(started.id)])[started.id].waiting
    assert listed is not None
    assert (listed.kind, listed.reason) == ("target", "submitted to local-process; waiting for it to start")


def test_a_building_run_names_the_step_its_build_log_reached(tmp_path: Path) -> None:
    # GIVEN an asynchronous build whose log has reached buildah's step 4 of 9
    built = World(tmp_path, asynchronous=True)
    run = built.enqueue()
    built.svc.dispatcher.dispatch("q")
    building = built.svc.runs.get(run.id)
    assert building.state is S.BUILDING
    assert building.build_id is not None
    built.builder.log[building.build_id] += (
        "STEP 3/9: COPY . /app\nSTEP 4/9: RUN pip install -r requirements.txt\n"
    )
    waiting = WaitingService(built.svc.ctx)
    # WHEN asked for the run  THEN the reason names the step
    outlook = waiting.of_run(building, built.svc.runs.events(run.id))
    assert outlook.waiting is not None
    assert outlook.waiting.kind == "building"
    assert outlook.waiting.reason == "image building (step 4/9 RUN pip install -r requirements.txt)"
    assert outlook.eta is None
    # the listing does not read build logs
    listed = waiting.of_page([building])[run.id].waiting
    assert listed is not None
    assert (listed.kind, listed.reason) == ("building", "image building")


def test_running_and_ended_runs_wait_for_nothing(world: Stage) -> None:
    world.queue()
    world.enqueue()
    running = world.launch()
    assert world.outlook(running) == Outlook()
    ended = world.finish(running)
    assert world.outlook(ended) == Outlook()
    assert world.waiting.of_page([ended]) == {}


# -- eta --------------------------------------------------------------------------------------
def test_no_eta_without_enough_history(world: Stage) -> None:
    world.queue()
    world.history([60.0] * (MIN_HISTORY - 1))
    world.enqueue()
    world.launch()
    mine = world.enqueue()
    outlook = world.outlook(mine)
    assert outlook.waiting is not None  # the reason is there, the number is not
    assert outlook.eta is None


def test_no_eta_for_an_unlimited_queue(world: Stage) -> None:
    world.queue(max_jobs=-1)
    world.history([60.0] * MIN_HISTORY)
    mine = world.enqueue()
    assert world.outlook(mine).eta is None


def test_the_eta_plays_the_line_over_the_slots_with_the_median_duration(world: Stage) -> None:
    # GIVEN two slots and a median of 60 s (durations 10, 60, 600: the median, not the mean)
    world.queue(max_jobs=2)
    world.history([10.0, 60.0, 600.0])
    for _ in range(2):
        world.enqueue()
    first, second = world.launch(), None
    world.clock.advance(20)
    second = world.launch()
    ahead = [world.enqueue(), world.enqueue()]
    mine = world.enqueue()
    now = world.clock.now
    # first has 40 s left, second 60 s; ahead[0] starts at 40 s, ahead[1] at 60 s, mine at 100 s
    assert world.outlook(ahead[0]).eta == now + timedelta(seconds=40)
    assert world.outlook(ahead[1]).eta == now + timedelta(seconds=60)
    assert world.outlook(mine).eta == now + timedelta(seconds=100)
    assert (first.state, second.state) == (S.RUNNING, S.RUNNING)


def test_the_eta_falls_as_runs_ahead_finish(world: Stage) -> None:
    # GIVEN one slot, a median of 60 s, a running job and two runs ahead of mine
    world.queue()
    world.history([60.0] * HISTORY_RUNS)  # only the last N count: all 60 s here
    world.enqueue()
    running = world.launch()
    world.enqueue()
    world.enqueue()
    mine = world.enqueue()

    def wait_left() -> float:
        eta = world.outlook(mine).eta
        assert eta is not None
        return (eta - world.clock.now).total_seconds()

    waits = [wait_left()]
    assert waits[0] == 180
    # WHEN the runs ahead finish early, one after the other (10 s each)
    for _ in range(2):
        world.clock.advance(10)
        world.finish(running)
        running = world.launch()
        waits.append(wait_left())
    # THEN the estimate falls each time, in time left and in absolute time
    assert waits == [180, 120, 60]
    world.clock.advance(10)
    world.finish(running)
    assert wait_left() == 0  # next in line with a free slot: any moment now
