"""The control plane's side of agents (``launchq.service.agents``), on the in-memory store.

Claims, waits, version-checked and idempotent moves, lease renewals, the ``dispatch: agents``
queue field, and what a control plane leaves to agents (dispatching, polling targets) versus
what it still does (expiring claims). Log merging is in test_agent_service_logs.py (which
builds its control plane with this module's helpers), and the local-process host id that
``Target.sees`` relies on in test_local_process_host.py.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.bootstrap import Services
from launchq.domain.models import Run, RunSpec, RunUpdate
from launchq.domain.states import RunState
from launchq.errors import Conflict, InvalidInput, NotFound, StaleWrite
from launchq.ports import TargetStatus
from launchq.service.agents import AgentService
from launchq.service.queues import QueueCreate, QueuePatch
from tests.unit.fakes import Clock, FakeTarget, services

S = RunState
SPEC = RunSpec(entry_point=["train"])


def control_plane(target: FakeTarget, clock: Clock, *, hears_doorbell: bool = True) -> Services:
    """Services as ``launchq serve`` builds them (a control plane hearing its doorbell), on
    the memory store; ``hears_doorbell=False``: as a Lambda function, which hears none."""
    built = services(target, clock)
    built.ctx.control_plane = True
    built.agents = AgentService(built.ctx, doorbell(built) if hears_doorbell else None)
    return built


@pytest.fixture
def target() -> FakeTarget:
    return FakeTarget()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def control_plane_with_queues(target: FakeTarget, clock: Clock) -> Services:
    """A control plane with queue ``gpu`` served by agents and ``cpu`` by the server (two
    slots each); a function, not only the fixture, so that test_agent_service_logs.py
    builds the very same one."""
    services = control_plane(target, clock)
    services.queues.create(QueueCreate(name="gpu", resource="local-process", max_jobs=2, dispatch="agents"))
    services.queues.create(QueueCreate(name="cpu", resource="local-process", max_jobs=2))
    return services


@pytest.fixture
def svc(target: FakeTarget, clock: Clock) -> Services:
    return control_plane_with_queues(target, clock)


def doorbell(svc: Services) -> InProcessDoorbell:
    bell = svc.ctx.doorbell
    assert isinstance(bell, InProcessDoorbell)
    return bell


def claimed(svc: Services, queue: str = "gpu") -> Run:
    run = svc.agents.claim("agent-1", queue, 120)
    assert run is not None
    return run


def started(svc: Services) -> Run:
    """A run an agent claimed and reported submitted (``starting``, with a job handle)."""
    run = claimed(svc)
    update = RunUpdate(handle={"job": run.id}, started_at=svc.ctx.clock(), clear_lease=True)
    moved, _ = svc.agents.move("agent-1", run.id, run.version, (S.CLAIMED, S.STARTING), "submitted", update)
    return moved


# -- the queue field ---------------------------------------------------------------------


def test_a_resource_without_a_target_here_is_refused_unless_agents_serve_the_queue(svc: Services) -> None:
    with pytest.raises(InvalidInput) as refused:
        svc.queues.create(QueueCreate(name="sm", resource="sagemaker"))
    assert refused.value.field == "resource"
    assert "set dispatch: agents to serve it from agents" in refused.value.detail
    assert [q.name for q in svc.queues.all()] == ["cpu", "gpu"]  # nothing stored

    queue = svc.queues.create(QueueCreate(name="sm", resource="sagemaker", dispatch="agents"))
    assert (queue.resource, queue.dispatch) == ("sagemaker", "agents")
    run, created = svc.runs.enqueue(
        "sm", RunSpec(entry_point=["train"])
    )  # no target asked: the agent's checks
    assert created
    assert run.state is S.QUEUED


def test_an_unknown_resource_is_refused_even_for_agents(svc: Services) -> None:
    with pytest.raises(InvalidInput, match="unknown resource 'quantum'") as refused:
        svc.queues.create(QueueCreate(name="q", resource="quantum", dispatch="agents"))
    assert refused.value.field == "resource"


def test_patching_dispatch_back_to_server_needs_a_target(svc: Services) -> None:
    svc.queues.create(QueueCreate(name="sm", resource="sagemaker", dispatch="agents"))
    with pytest.raises(InvalidInput, match="set dispatch: agents"):
        svc.queues.patch("sm", QueuePatch(dispatch="server"))
    assert svc.queues.get("sm").dispatch == "agents"
    assert svc.queues.patch("gpu", QueuePatch(dispatch="server")).dispatch == "server"


def test_a_queue_is_dispatched_by_the_server_unless_it_says_otherwise(svc: Services) -> None:
    assert svc.queues.get("cpu").dispatch == "server"


# -- what the control plane leaves to agents ----------------------------------------------


def test_the_control_plane_never_claims_from_an_agents_queue(svc: Services) -> None:
    run, _ = svc.runs.enqueue("gpu", SPEC)
    assert svc.dispatcher.dispatch("gpu") == []
    svc.reconciler.tick()
    assert svc.runs.get(run.id).state is S.QUEUED
    other, _ = svc.runs.enqueue("cpu", SPEC)
    assert [r.id for r in svc.dispatcher.dispatch("cpu")] == [other.id]


def test_the_control_plane_does_not_poll_an_agents_jobs(svc: Services, target: FakeTarget) -> None:
    svc.runs.enqueue("gpu", SPEC)
    run = started(svc)
    target.jobs[run.id] = TargetStatus(state="finished", exit_code=0)  # what a wrong poll would see
    svc.reconciler.tick()
    svc.state_changes.on_job_state_change(run.id)
    assert svc.runs.get(run.id).state is S.STARTING


def test_an_agent_serves_the_same_queue_and_polls_its_jobs(target: FakeTarget, clock: Clock) -> None:
    svc = control_plane(target, clock)
    svc.ctx.control_plane = False  # as an agent's services are built
    svc.queues.create(QueueCreate(name="gpu", resource="local-process", dispatch="agents"))
    run, _ = svc.runs.enqueue("gpu", SPEC)
    assert [r.id for r in svc.dispatcher.dispatch("gpu")] == [run.id]
    target.jobs[run.id] = TargetStatus(state="finished", exit_code=0)
    svc.reconciler.tick()
    assert svc.runs.get(run.id).state is S.FINISHED


def test_the_control_plane_still_expires_an_agents_claims(svc: Services, clock: Clock) -> None:
    first, _ = svc.runs.enqueue("gpu", SPEC)
    svc.agents.claim("agent-1", "gpu", 10)
    clock.advance(11)
    svc.reconciler.tick()
    back = svc.runs.get(first.id)
    assert back.state is S.QUEUED
    assert svc.runs.events(first.id)[-1].reason == "claim expired; back in line"


def test_a_stop_before_launch_is_settled_by_the_control_plane_without_a_target(
    svc: Services, target: FakeTarget
) -> None:
    svc.runs.enqueue("gpu", SPEC)
    run = claimed(svc)
    svc.runs.stop(run.id)
    svc.reconciler.tick()
    assert svc.runs.get(run.id).state is S.STOPPED
    assert target.stops == []


def test_stopping_an_agents_running_job_leaves_the_signal_to_its_agent(
    svc: Services, target: FakeTarget
) -> None:
    svc.runs.enqueue("gpu", SPEC)
    run = started(svc)
    assert svc.runs.stop(run.id).state is S.STOPPING
    svc.reconciler.tick()
    assert target.stops == []
    assert svc.runs.get(run.id).state is S.STOPPING  # until the agent reports the job stopped


def test_a_job_the_target_does_not_see_is_left_alone(target: FakeTarget, clock: Clock) -> None:
    class Elsewhere(FakeTarget):
        def sees(self, run: Run) -> bool:
            return False

    blind = Elsewhere()
    svc = control_plane(blind, clock)
    svc.queues.create(QueueCreate(name="q", resource="local-process"))
    run, _ = svc.runs.enqueue("q", SPEC)
    svc.dispatcher.dispatch("q")
    blind.jobs[run.id] = TargetStatus(state="lost")
    svc.reconciler.tick()
    assert svc.runs.get(run.id).state is S.STARTING  # not called lost: it is another host's job


# -- claim ----------------------------------------------------------------------------


def test_claims_follow_priority_and_the_queues_max_jobs(svc: Services) -> None:
    low, _ = svc.runs.enqueue("gpu", RunSpec(entry_point=["a"], priority="low"))
    high, _ = svc.runs.enqueue("gpu", RunSpec(entry_point=["b"], priority="high"))
    medium, _ = svc.runs.enqueue("gpu", RunSpec(entry_point=["c"]))
    first, second = claimed(svc), claimed(svc)
    assert [first.id, second.id] == [high.id, medium.id]
    assert first.lease_expires_at == svc.ctx.clock() + timedelta(seconds=120)
    assert svc.agents.claim("agent-2", "gpu", 120) is None  # max_jobs 2
    assert svc.runs.get(low.id).state is S.QUEUED


def test_an_agents_claim_is_recorded_under_its_id(svc: Services) -> None:
    svc.runs.enqueue("gpu", SPEC)
    run = claimed(svc)
    assert svc.runs.events(run.id)[-1].reason == "claimed by agent agent-1"


def test_claiming_from_an_unknown_or_a_server_queue_is_refused(svc: Services) -> None:
    svc.runs.enqueue("cpu", SPEC)
    with pytest.raises(NotFound):
        svc.agents.claim("a", "nope", 120)
    with pytest.raises(Conflict) as refused:
        svc.agents.claim("a", "cpu", 120)
    assert refused.value.field == "queue"
    assert svc.ctx.store.count_active("cpu") == 0


# -- move -----------------------------------------------------------------------------


def test_a_reported_move_is_applied_once_and_its_retry_is_a_replay(svc: Services) -> None:
    svc.runs.enqueue("gpu", SPEC)
    run = claimed(svc)
    report = ("agent-1", run.id, run.version, (S.CLAIMED, S.STARTING), "submitted", RunUpdate())
    moved, replayed = svc.agents.move(*report)
    assert (moved.state, moved.version, replayed) == (S.STARTING, run.version + 1, False)
    again, replayed = svc.agents.move(*report)
    assert (again.state, again.version, replayed) == (S.STARTING, run.version + 1, True)
    assert [e.to_state for e in svc.runs.events(run.id)] == [S.QUEUED, S.CLAIMED, S.STARTING]


def test_a_retry_is_recognised_after_the_run_moved_on(svc: Services) -> None:
    svc.runs.enqueue("gpu", SPEC)
    run = started(svc)
    report = ("agent-1", run.id, run.version, (S.STARTING, S.RUNNING), "job is running", RunUpdate())
    svc.agents.move(*report)
    svc.agents.move(
        "agent-1", run.id, run.version + 1, (S.RUNNING, S.FINISHED), "exited with code 0", RunUpdate()
    )
    current, replayed = svc.agents.move(*report)
    assert (current.state, replayed) == (S.FINISHED, True)


def test_a_report_at_an_old_version_is_stale_and_changes_nothing(svc: Services, clock: Clock) -> None:
    svc.runs.enqueue("gpu", SPEC)
    lost = svc.agents.claim("agent-1", "gpu", 10)
    assert lost is not None
    clock.advance(11)
    svc.reconciler.tick()  # the lease ran out: back in line
    now_held = claimed(svc)  # and another agent holds it
    with pytest.raises(StaleWrite) as stale:
        svc.agents.move("agent-1", lost.id, lost.version, (S.CLAIMED, S.STARTING), "submitted", RunUpdate())
    assert stale.value.field == "version"
    with pytest.raises(StaleWrite) as also_forbidden:  # a lost run is what the agent must hear
        svc.agents.move("agent-1", lost.id, lost.version, (S.CLAIMED, S.FAILED), "lost", RunUpdate())
    assert also_forbidden.value.field == "version"
    after = svc.runs.get(lost.id)
    assert (after.state, after.version) == (S.CLAIMED, now_held.version)


def test_a_report_from_the_wrong_state_or_a_forbidden_move_is_refused(svc: Services) -> None:
    svc.runs.enqueue("gpu", SPEC)
    run = claimed(svc)
    with pytest.raises(StaleWrite) as stale:
        svc.agents.move("a", run.id, run.version, (S.RUNNING, S.FINISHED), "done", RunUpdate())
    assert stale.value.field == "state"
    with pytest.raises(Conflict) as forbidden:
        svc.agents.move("a", run.id, run.version, (S.CLAIMED, S.FINISHED), "done", RunUpdate())
    assert not isinstance(forbidden.value, StaleWrite)
    assert forbidden.value.field == "to_state"
    with pytest.raises(NotFound):
        svc.agents.move("a", "no-such-run", 1, (S.CLAIMED, S.STARTING), "x", RunUpdate())
    after = svc.runs.get(run.id)
    assert (after.state, after.version) == (S.CLAIMED, run.version)
    assert len(svc.runs.events(run.id)) == run.version


def test_a_run_of_a_server_queue_cannot_be_moved_by_an_agent(svc: Services) -> None:
    svc.runs.enqueue("cpu", SPEC)
    (run,) = svc.dispatcher.dispatch("cpu")
    with pytest.raises(Conflict) as refused:
        svc.agents.move("a", run.id, run.version, (S.STARTING, S.RUNNING), "r", RunUpdate())
    assert refused.value.field == "queue"


def test_a_move_that_frees_a_slot_rings_the_queue(svc: Services) -> None:
    svc.runs.enqueue("gpu", SPEC)
    run = started(svc)
    doorbell(svc).wait(0)  # forget earlier rings
    svc.agents.move(
        "a", run.id, run.version, (S.STARTING, S.FAILED), "exited with code 3", RunUpdate(exit_code=3)
    )
    assert "gpu" in doorbell(svc).wait(0)
    assert svc.runs.get(run.id).exit_code == 3


# -- lease ----------------------------------------------------------------------------


def test_a_lease_is_renewed_without_a_version_bump_and_refused_once_moved_on(
    svc: Services, clock: Clock
) -> None:
    svc.runs.enqueue("gpu", SPEC)
    run = svc.agents.claim("a", "gpu", 10)
    assert run is not None
    clock.advance(8)
    renewed = svc.agents.renew("a", run.id, run.version, 10)
    assert (renewed.version, renewed.lease_expires_at) == (run.version, clock() + timedelta(seconds=10))
    clock.advance(8)  # past the first lease, within the renewed one
    svc.reconciler.tick()
    assert svc.runs.get(run.id).state is S.CLAIMED
    svc.agents.move("a", run.id, run.version, (S.CLAIMED, S.STARTING), "submitted", RunUpdate())
    with pytest.raises(StaleWrite) as stale:
        svc.agents.renew("a", run.id, run.version, 10)
    assert stale.value.field == "version"


# -- wait -----------------------------------------------------------------------------


def test_wait_answers_at_once_with_the_queues_that_have_work(svc: Services) -> None:
    svc.queues.create(QueueCreate(name="idle", resource="local-process", dispatch="agents"))
    svc.runs.enqueue("gpu", SPEC)
    assert svc.agents.wait(["idle", "gpu"], 0) == (["gpu"], True)
    claimed(svc)
    assert svc.agents.wait(["gpu"], 0) == ([], True)  # nothing left in line
    with pytest.raises(NotFound):
        svc.agents.wait(["nope"], 0)
    with pytest.raises(Conflict):
        svc.agents.wait(["cpu"], 0)


def test_wait_returns_when_a_run_arrives_without_taking_the_dispatchers_ring(svc: Services) -> None:
    doorbell(svc).wait(0)
    answers: list[tuple[list[str], bool]] = []
    waiter = threading.Thread(target=lambda: answers.append(svc.agents.wait(["gpu"], 10)))
    waiter.start()
    time.sleep(0.2)  # the waiter is waiting (were it not, it would find the run at once: same answer)
    svc.runs.enqueue("gpu", SPEC)
    waiter.join(timeout=5)
    assert answers == [(["gpu"], True)]
    assert "gpu" in doorbell(svc).wait(0)  # the dispatcher's loop still sees the ring


def test_wait_gives_up_after_its_time_and_lambda_never_waits(target: FakeTarget, clock: Clock) -> None:
    svc = control_plane(target, clock)
    svc.queues.create(QueueCreate(name="gpu", resource="local-process", dispatch="agents"))
    assert svc.agents.wait(["gpu"], 0.05) == ([], True)
    lambda_like = control_plane(target, clock, hears_doorbell=False)
    lambda_like.queues.create(QueueCreate(name="gpu", resource="local-process", dispatch="agents"))
    assert lambda_like.agents.wait(["gpu"], 20) == ([], False)  # (or this test would take 20 s)


def test_waits_past_the_cap_are_answered_at_once_as_short_polls(svc: Services) -> None:
    svc.agents = AgentService(svc.ctx, doorbell(svc), max_long_polls=1)
    held: list[tuple[list[str], bool]] = []
    first = threading.Thread(target=lambda: held.append(svc.agents.wait(["gpu"], 10)))
    first.start()
    time.sleep(0.2)  # the first wait holds the only place
    assert svc.agents.wait(["gpu"], 10) == ([], False)
    svc.runs.enqueue("gpu", SPEC)
    first.join(timeout=5)
    assert held == [(["gpu"], True)]
    assert svc.agents.wait(["gpu"], 0) == (["gpu"], True)  # the place is free again


def test_broadcast_waiters_see_a_ring_that_came_before_they_waited() -> None:
    bell = InProcessDoorbell()
    mark = bell.mark()
    bell.ring("gpu")
    assert bell.wait_rung(["gpu", "cpu"], mark, 0) == {"gpu"}
    assert bell.wait_rung(["gpu"], bell.mark(), 0) == set()
    assert bell.wait(0) == {"gpu"}
