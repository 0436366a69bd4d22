"""Every run move goes through one step that wakes the dispatcher when a slot frees up.

On AWS nothing dispatches unless the doorbell rings: a move that frees a slot (or puts a
run back in line) without ringing stalls its queue until someone enqueues again. These
tests drive the services with an asynchronous builder and a doorbell that records rings,
and dispatch only the queues that were rung, as the doorbell-fed dispatcher Lambda does.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import ClassVar

import pytest

from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
from launchq.adapters.stores.memory import MemoryRunStore
from launchq.bootstrap import Services, build_services
from launchq.domain.models import Run, RunSpec, RunUpdate
from launchq.domain.states import RunState
from launchq.errors import StaleWrite
from launchq.ports import Builder, BuildPlan, BuildResult, Doorbell
from launchq.service.context import Context, ServiceSettings
from launchq.service.queues import QueueCreate
from launchq.service.targets import TargetCatalog
from launchq.service.transitions import Transitions
from tests.integration.test_build_planner import FakeRegistry
from tests.unit.fakes import Clock, FakeTarget


class ImageTarget(FakeTarget):
    """The fake target, but one that runs images (so a run from code needs a build)."""

    needs_image: ClassVar[bool] = True


class RecordingDoorbell(Doorbell):
    def __init__(self) -> None:
        self.rings: list[str] = []

    def ring(self, queue: str) -> None:
        self.rings.append(queue)

    def take(self) -> list[str]:
        rung, self.rings = self.rings, []
        return rung


class AsyncBuilder(Builder):
    """Starts builds that stay ``building`` until the test settles them (like CodeBuild)."""

    type: ClassVar[str] = "async-fake"

    def __init__(self) -> None:
        self.outcome: BuildResult | None = None

    def check(self, run: Run) -> None:
        return None

    def start(self, run: Run, plan: BuildPlan) -> BuildResult:
        return BuildResult(state="building", build_id=f"build-{run.id}", image_uri=plan.image_uri)

    def status(self, run: Run, build_id: str) -> BuildResult:
        return self.outcome or BuildResult(state="building", build_id=build_id)

    def logs(self, run: Run, build_id: str, offset: int = 0) -> tuple[str, int]:
        return "", offset


class World:
    def __init__(self, tmp_path: Path, store: MemoryRunStore | None = None) -> None:
        self.target, self.clock = ImageTarget(), Clock()
        self.builder, self.doorbell = AsyncBuilder(), RecordingDoorbell()
        self.source = tmp_path / "src"
        self.source.mkdir()
        (self.source / "train.py").write_text("print('training')\n")
        ctx = Context(
            store=store or MemoryRunStore(),
            doorbell=self.doorbell,
            targets=TargetCatalog({self.target.resource: self.target}),
            builder=self.builder,
            trigger=ReconcilerOnlyTrigger(),
            settings=ServiceSettings(lease_seconds=60, start_timeout_seconds=120),
            clock=self.clock,
            registry=FakeRegistry(),
            build_dir=tmp_path / "builds",
        )
        self.svc: Services = build_services(ctx)

    def dispatch_rung(self) -> list[Run]:
        """What the doorbell-fed dispatcher does: look only at the queues that were rung."""
        return [
            run for queue in sorted(set(self.doorbell.take())) for run in self.svc.dispatcher.dispatch(queue)
        ]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def _build_then_wait(world: World) -> tuple[Run, Run]:
    """A queue with one slot: a run from code building asynchronously, a prebuilt one behind it."""
    world.svc.queues.create(QueueCreate(name="q", resource="local-process", max_jobs=1))
    building, _ = world.svc.runs.enqueue(
        "q", RunSpec(uri=str(world.source), entry_point=["python", "train.py"])
    )
    waiting, _ = world.svc.runs.enqueue(
        "q", RunSpec(docker_image="registry.test/train:1", entry_point=["train"])
    )
    assert [run.id for run in world.dispatch_rung()] == [building.id]
    assert world.svc.runs.get(building.id).state == RunState.BUILDING
    assert world.svc.runs.get(waiting.id).state == RunState.QUEUED
    assert world.doorbell.take() == []
    return building, waiting


def test_a_build_that_fails_on_resume_frees_its_slot_and_wakes_the_dispatcher(world: World) -> None:
    # GIVEN one slot, held by a run whose asynchronous build is under way, and a run in line
    building, waiting = _build_then_wait(world)

    # WHEN the build fails and the reconciler's poll resumes the run
    world.builder.outcome = BuildResult(state="failed", detail="COPY failed: no space left on device")
    world.svc.reconciler.poll_builds()

    # THEN the run is dead-lettered with the build's failure, and its queue's doorbell rang
    dead = world.svc.runs.get(building.id)
    assert (dead.state, dead.reason) == (
        RunState.DEAD_LETTER,
        "build failed: COPY failed: no space left on device",
    )
    assert world.doorbell.rings == ["q"]
    # AND the run waiting behind it is launched by that ring alone, with nobody enqueueing again
    assert [(run.id, run.state) for run in world.dispatch_rung()] == [(waiting.id, RunState.STARTING)]


def test_a_build_event_that_reports_the_failure_wakes_the_dispatcher_too(world: World) -> None:
    # GIVEN the same queue, the build's failure pushed as an event (the events Lambda resumes the run)
    building, waiting = _build_then_wait(world)
    world.builder.outcome = BuildResult(state="failed", detail="exit status 1")

    # WHEN the dispatcher resumes the run
    resumed = world.svc.dispatcher.resume(world.svc.runs.get(building.id))

    # THEN the slot is freed, the doorbell rang once, and the next run gets the slot
    assert resumed.state == RunState.DEAD_LETTER
    assert world.doorbell.rings == ["q"]
    assert [run.id for run in world.dispatch_rung()] == [waiting.id]


def test_a_submit_refusal_rings_so_the_queue_keeps_moving(world: World) -> None:
    # GIVEN a queue with one slot and two prebuilt runs, the target refusing the first
    world.svc.queues.create(QueueCreate(name="q", resource="local-process", max_jobs=1))
    spec = RunSpec(docker_image="registry.test/train:1", entry_point=["train"])
    refused, _ = world.svc.runs.enqueue("q", spec)
    world.target.fail_submit = "no capacity"
    claimed = world.svc.ctx.store.claim("q", world.clock(), world.clock())
    assert claimed is not None
    world.doorbell.take()

    # WHEN the launch fails
    dead = world.svc.dispatcher.launch(claimed)

    # THEN the run is dead-lettered and its freed slot rang the doorbell
    assert (dead.id, dead.state) == (refused.id, RunState.DEAD_LETTER)
    assert world.doorbell.rings == ["q"]


def test_the_reconciler_rings_a_queue_whose_ring_was_lost(world: World) -> None:
    # GIVEN a run dead-lettered while the doorbell was down (its ring lost), a run in line behind it
    building, waiting = _build_then_wait(world)
    world.builder.outcome = BuildResult(state="failed", detail="exit status 1")
    world.svc.dispatcher.resume(world.svc.runs.get(building.id))
    world.doorbell.take()  # the ring that SQS refused

    # WHEN the reconciler ticks
    world.svc.reconciler.tick()

    # THEN the queue with a free slot and a run in line is rung, and that ring launches the run
    assert world.doorbell.rings == ["q"]
    assert [run.id for run in world.dispatch_rung()] == [waiting.id]
    # AND a queue that is full (or empty) is not rung again
    world.svc.reconciler.tick()
    assert world.doorbell.take() == []


def test_moves_ring_only_when_a_slot_frees_or_a_run_is_back_in_line(world: World) -> None:
    # GIVEN a claimed run
    world.svc.queues.create(QueueCreate(name="q", resource="local-process", max_jobs=-1))
    world.svc.runs.enqueue("q", RunSpec(docker_image="registry.test/train:1", entry_point=["t"]))
    store, moves = world.svc.ctx.store, Transitions(world.svc.ctx)
    run = store.claim("q", world.clock(), world.clock())
    assert run is not None
    world.doorbell.take()

    # WHEN it is moved through requeue, launch, preemption and requeue, the store claiming it again
    rings: list[tuple[str, list[str]]] = []
    for to in (RunState.QUEUED, RunState.CLAIMED, RunState.STARTING, RunState.RUNNING, RunState.PREEMPTED):
        if to is RunState.CLAIMED:  # claims are the store's own atomic step
            run = store.claim("q", world.clock(), world.clock())
            assert run is not None
        else:
            run = moves.move(run, to, f"to {to.value}")
        rings.append((to.value, world.doorbell.take()))
    moves.move(run, RunState.QUEUED, "preempted; back in line")
    rings.append(("queued again", world.doorbell.take()))

    # THEN only leaving an active state and going back in line rang, once each
    assert rings == [
        ("queued", ["q"]),
        ("claimed", []),
        ("starting", []),
        ("running", []),
        ("preempted", ["q"]),
        ("queued again", ["q"]),
    ]


def test_a_stale_write_is_retried_only_when_the_run_is_still_where_the_move_starts(tmp_path: Path) -> None:
    # GIVEN a running run in a store whose next conditional write will be lost to a racing writer
    store = LosesOneWrite()
    world = World(tmp_path, store)
    world.svc.queues.create(QueueCreate(name="q", resource="local-process", max_jobs=-1))
    world.svc.runs.enqueue("q", RunSpec(docker_image="registry.test/train:1", entry_point=["t"]))
    claimed = store.claim("q", world.clock(), world.clock())
    assert claimed is not None
    moves = Transitions(world.svc.ctx)
    running = moves.move(moves.move(claimed, RunState.STARTING, "submitted"), RunState.RUNNING, "running")
    world.doorbell.take()
    store.lose_next = True

    # WHEN a move that depends only on the run's state (the job ended) is written
    finished = moves.move(
        running, RunState.FINISHED, "exited with code 0", RunUpdate(exit_code=0), retry=True
    )

    # THEN it is re-read, found still running, and written again: finished, and the slot rang once
    assert (finished.state, finished.exit_code) == (RunState.FINISHED, 0)
    assert [e.to_state for e in store.events(running.id)][-2:] == [RunState.RUNNING, RunState.FINISHED]
    assert world.doorbell.take() == ["q"]

    # AND a move whose start state is gone is not retried: the caller learns of it, nothing rings
    with pytest.raises(StaleWrite):
        moves.move(running, RunState.STOPPING, "stop requested", retry=True)
    assert world.doorbell.rings == []
    assert store.get_run(running.id).state == RunState.FINISHED

    # AND without ``retry`` a lost write is the caller's to handle
    store.lose_next = True
    queued, _ = world.svc.runs.enqueue("q", RunSpec(docker_image="registry.test/train:1", entry_point=["t"]))
    with pytest.raises(StaleWrite):
        moves.move(queued, RunState.CANCELLED, "stop requested")
    assert store.get_run(queued.id).state == RunState.QUEUED


class LosesOneWrite(MemoryRunStore):
    """A memory store whose next transition, when ``lose_next`` is set, fails as a lost race does."""

    lose_next = False

    def transition(
        self,
        run_id: str,
        expected: RunState,
        to: RunState,
        reason: str,
        now: datetime,
        update: RunUpdate | None = None,
    ) -> Run:
        if self.lose_next:
            self.lose_next = False
            raise StaleWrite(f"run {run_id} changed while moving it from {expected.value}", field="state")
        return super().transition(run_id, expected, to, reason, now, update)
