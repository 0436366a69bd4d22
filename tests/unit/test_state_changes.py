"""The rules behind pushed state changes (``launchq.service.state_changes``), at the service.

The events Lambda only parses an event and calls these; here they run against the
in-package fakes (memory store, fake target, fake asynchronous builder and registry), so
every branch of the rule (a build in progress, a stale or repeated event, a finished or
failed build, a job that ended, a run the reconciler does not poll) is pinned without AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from launchq.adapters.builders.fake import FakeBuilder
from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.adapters.registries.fake import FakeRegistry
from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
from launchq.adapters.stores.memory import MemoryRunStore
from launchq.adapters.targets.fake import FakeTarget
from launchq.bootstrap import Services, build_services
from launchq.domain.models import Run, RunSpec
from launchq.domain.states import RunState
from launchq.errors import NotFound
from launchq.ports import TargetStatus
from launchq.service.context import Context
from launchq.service.queues import QueueCreate
from launchq.service.state_changes import BuildEventResult, waits_on_build
from launchq.service.targets import TargetCatalog
from tests.unit.fakes import Clock


class ImageTarget(FakeTarget):
    """The fake target, running images (a run from code is built first), counting status calls."""

    needs_image: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def status(self, run: Run) -> TargetStatus:
        self.asked.append(run.id)
        return super().status(run)


def summary(result: BuildEventResult) -> tuple[str, RunState | None]:
    """What a build event did, and the state it left the run in (None: no run was read)."""
    return result.outcome, (result.run.state if result.run is not None else None)


@dataclass
class World:
    svc: Services
    target: ImageTarget
    builder: FakeBuilder
    doorbell: InProcessDoorbell
    source: Path

    def enqueue(self, name: str) -> Run:
        run, _ = self.svc.runs.enqueue(
            "q", RunSpec(uri=str(self.source), entry_point=["python", "train.py"], name=name)
        )
        return run

    def building(self) -> tuple[Run, str]:
        """A run dispatched and left ``building`` by an asynchronous build; its build id."""
        run = self.enqueue("built")
        [dispatched] = self.svc.dispatcher.dispatch("q")
        assert dispatched.id == run.id
        assert dispatched.state == RunState.BUILDING
        self.doorbell.wait(0)  # forget the rings so far
        assert dispatched.build_id is not None
        return dispatched, dispatched.build_id

    def events_of(self, run: Run) -> list[str]:
        return [event.reason for event in self.svc.runs.events(run.id)]


@pytest.fixture
def world(tmp_path: Path) -> World:
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text("print('training')\n")
    target, registry, doorbell = ImageTarget(), FakeRegistry(), InProcessDoorbell()
    builder = FakeBuilder(registry, asynchronous=True)
    ctx = Context(
        store=MemoryRunStore(),
        doorbell=doorbell,
        targets=TargetCatalog({target.resource: target}),
        builder=builder,
        trigger=ReconcilerOnlyTrigger(),
        clock=Clock(),
        registry=registry,
        build_dir=tmp_path / "builds",
    )
    svc = build_services(ctx)
    svc.queues.create(QueueCreate(name="q", resource="local-process", max_jobs=1))
    return World(svc, target, builder, doorbell, source)


# -- build state changes ------------------------------------------------------------------


def test_a_finished_build_resumes_its_run_into_starting_with_the_built_image(world: World) -> None:
    # GIVEN a run building asynchronously, whose build has finished
    run, build_id = world.building()
    world.builder.finish(build_id)

    # WHEN the build's state change arrives
    result = world.svc.state_changes.on_build_state_change(run.id, build_id, "ready")

    # THEN the run was resumed and submitted with the pushed image; the build log stays reachable
    assert summary(result) == ("resumed", RunState.STARTING)
    stored = world.svc.runs.get(run.id)
    assert stored.state == RunState.STARTING
    image = world.builder.plans[build_id].image_uri
    assert world.events_of(run)[-1] == f"submitted to local-process with image {image}"
    assert stored.build_id == build_id
    assert world.target.jobs[run.id].state == "starting"


def test_a_failed_build_dead_letters_its_run_with_the_builds_detail_and_frees_the_slot(
    world: World,
) -> None:
    # GIVEN a run building asynchronously, a run waiting behind it, and the build failing
    run, build_id = world.building()
    waiting = world.enqueue("waiting")
    world.builder.fail_with = "COPY failed: no space left on device"
    world.builder.finish(build_id)

    # WHEN the build's state change arrives
    result = world.svc.state_changes.on_build_state_change(run.id, build_id, "failed")

    # THEN the run is dead-lettered with the build's reason, and the freed slot rings the queue
    assert summary(result) == ("resumed", RunState.DEAD_LETTER)
    assert world.svc.runs.get(run.id).reason == "build failed: COPY failed: no space left on device"
    assert world.doorbell.wait(0) == {"q"}
    assert world.svc.runs.get(waiting.id).state == RunState.QUEUED
    assert world.target.jobs == {}


def test_the_builders_word_wins_over_the_events(world: World) -> None:
    # GIVEN a run whose build is still running, though an event says it is over
    run, build_id = world.building()

    # WHEN the "ready" event arrives early (or forged)
    result = world.svc.state_changes.on_build_state_change(run.id, build_id, "ready")

    # THEN the builder was asked, and the run keeps waiting on its build
    assert summary(result) == ("resumed", RunState.BUILDING)
    assert world.svc.runs.get(run.id).state == RunState.BUILDING
    assert world.target.jobs == {}


def test_a_build_in_progress_changes_nothing_and_reads_no_run(world: World) -> None:
    # GIVEN a run building asynchronously
    run, build_id = world.building()
    before = world.events_of(run)

    # WHEN an IN_PROGRESS event arrives, for it or for a run launchq does not know
    result = world.svc.state_changes.on_build_state_change(run.id, build_id, "building")
    unknown = world.svc.state_changes.on_build_state_change("no-such-run", "no-such-build", "building")

    # THEN nothing was read or moved (an unknown run is not even looked up)
    assert summary(result) == summary(unknown) == ("in_progress", None)
    assert world.svc.runs.get(run.id).state == RunState.BUILDING
    assert world.events_of(run) == before


def test_an_event_for_another_build_of_the_run_is_stale_and_ignored(world: World) -> None:
    # GIVEN a run building with one build, and another build of that run finished
    run, build_id = world.building()
    world.builder.finish(build_id)  # would start the job, were the run resumed
    before = world.events_of(run)

    # WHEN an event names a build the run does not wait on
    result = world.svc.state_changes.on_build_state_change(run.id, "fake-build-99", "ready")

    # THEN the run is returned as it is, nothing moved and no job started
    assert summary(result) == ("not_waiting", RunState.BUILDING)
    assert world.events_of(run) == before
    assert world.target.jobs == {}


def test_a_repeated_build_event_after_the_run_moved_on_is_ignored(world: World) -> None:
    # GIVEN a run resumed by its build's event, now starting
    run, build_id = world.building()
    world.builder.finish(build_id)
    world.svc.state_changes.on_build_state_change(run.id, build_id, "ready")
    before = world.events_of(run)

    # WHEN the same event arrives again (EventBridge delivers at least once)
    again = world.svc.state_changes.on_build_state_change(run.id, build_id, "ready")

    # THEN nothing more happens: one job, no new event
    assert summary(again) == ("not_waiting", RunState.STARTING)
    assert world.events_of(run) == before
    assert list(world.target.jobs) == [run.id]


def test_a_finished_build_of_an_unknown_run_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        world.svc.state_changes.on_build_state_change("no-such-run", "fake-build-1", "ready")


def test_a_run_waits_on_a_build_only_while_building_with_that_build(world: World) -> None:
    run, build_id = world.building()
    assert waits_on_build(run, build_id)
    assert not waits_on_build(run, f"{build_id}-other")
    for state in set(RunState) - {RunState.BUILDING}:
        assert not waits_on_build(run.model_copy(update={"state": state}), build_id), state


# -- job state changes --------------------------------------------------------------------


def test_a_job_that_ended_settles_its_run_at_once_and_frees_the_slot(world: World) -> None:
    # GIVEN a run started from a prebuilt image, whose job has finished
    world.svc.runs.enqueue("q", RunSpec(docker_image="registry.test/train:1", entry_point=["train"]))
    [run] = world.svc.dispatcher.dispatch("q")
    world.doorbell.wait(0)
    world.target.jobs[run.id] = TargetStatus(state="finished", exit_code=0)

    # WHEN the job's state change arrives
    settled = world.svc.state_changes.on_job_state_change(run.id)

    # THEN the target was asked, the run is finished and its queue rung for the next run
    assert world.target.asked == [run.id]
    assert settled.state == RunState.FINISHED
    assert world.svc.runs.get(run.id).exit_code == 0
    assert world.doorbell.wait(0) == {"q"}


def test_a_job_still_running_moves_its_starting_run_to_running(world: World) -> None:
    world.svc.runs.enqueue("q", RunSpec(docker_image="registry.test/train:1", entry_point=["train"]))
    [run] = world.svc.dispatcher.dispatch("q")
    world.target.advance(run)

    assert world.svc.state_changes.on_job_state_change(run.id).state == RunState.RUNNING


@pytest.mark.parametrize("state", [RunState.QUEUED, RunState.BUILDING, RunState.DEAD_LETTER])
def test_a_run_the_reconciler_does_not_poll_is_returned_unchanged(world: World, state: RunState) -> None:
    # GIVEN a run in line, one building, and one dead-lettered
    run, build_id = world.building()
    if state == RunState.QUEUED:
        run = world.enqueue("in line")
    elif state == RunState.DEAD_LETTER:
        world.builder.fail_with = "broken"
        world.builder.finish(build_id)
        run = world.svc.dispatcher.resume(run)
    assert run.state == state
    before = world.events_of(run)

    # WHEN a job state change names it (a late event, or a job launchq no longer follows)
    current = world.svc.state_changes.on_job_state_change(run.id)

    # THEN no target is asked and nothing moves
    assert current.state == state
    assert world.target.asked == []
    assert world.events_of(run) == before


def test_a_job_event_for_an_unknown_run_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        world.svc.state_changes.on_job_state_change("no-such-run")
