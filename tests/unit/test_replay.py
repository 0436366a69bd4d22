"""Replaying a dead-lettered run (``RunService.replay``), on the in-memory store and the
SQLite store: back in line at its place as a new attempt, once, through the one move step."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.bootstrap import Services
from launchq.domain.models import RunSpec
from launchq.domain.states import RunState as S
from launchq.errors import Conflict, NotFound
from launchq.ports import TargetStatus
from launchq.service.queues import QueueCreate
from tests.unit.fakes import Clock, FakeTarget, services

SPEC = RunSpec(entry_point=["train"])


@pytest.fixture(params=["memory", "sqlite"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Services, FakeTarget]:
    target = FakeTarget()
    svc = services(target, Clock())
    if request.param == "sqlite":
        svc.ctx.store = SqliteRunStore(tmp_path / "launchq.db")
    svc.queues.create(QueueCreate(name="q", resource="local-process", max_jobs=1))
    return svc, target


def dead_lettered(svc: Services, target: FakeTarget) -> str:
    """A run the target refused, and a run enqueued after it (still in line behind it)."""
    target.fail_submit = "image not found"
    run, _ = svc.runs.enqueue("q", SPEC)
    (handled,) = svc.dispatcher.dispatch("q", limit=1)
    assert handled.state is S.DEAD_LETTER
    target.fail_submit = None
    return run.id


def test_a_replayed_run_waits_at_its_place_and_launches_as_a_new_attempt(
    world: tuple[Services, FakeTarget],
) -> None:
    # GIVEN a dead-lettered run, and a run of the same priority enqueued after it
    svc, target = world
    run_id = dead_lettered(svc, target)
    assert svc.runs.get(run_id).finished_at is not None
    later, _ = svc.runs.enqueue("q", SPEC)
    # WHEN it is replayed
    replayed = svc.runs.replay(run_id)
    # THEN it is queued, first in line (its original place), the last attempt's traces gone
    assert replayed.state is S.QUEUED
    assert (replayed.finished_at, replayed.started_at, replayed.exit_code, replayed.handle) == (
        None,
        None,
        None,
        {},
    )
    assert (replayed.claimed_at, replayed.lease_expires_at) == (None, None)
    assert svc.runs.position(replayed) == 1
    assert svc.runs.position(svc.runs.get(later.id)) == 2
    # AND its history keeps the dead letter and says it was replayed
    events = svc.runs.events(run_id)
    assert [e.to_state for e in events][-2:] == [S.DEAD_LETTER, S.QUEUED]
    assert events[-1].reason == "replayed after dead letter: image not found"
    # AND the dispatcher launches it, before the later run, and it can finish
    (launched,) = svc.dispatcher.dispatch("q", limit=1)
    assert (launched.id, launched.state) == (run_id, S.STARTING)
    target.jobs[run_id] = TargetStatus(state="finished", exit_code=0)
    svc.reconciler.tick()
    assert svc.runs.get(run_id).state is S.FINISHED


@pytest.mark.parametrize("state", [S.QUEUED, S.STARTING])
def test_only_a_dead_letter_can_be_replayed(world: tuple[Services, FakeTarget], state: S) -> None:
    svc, _ = world
    run, _ = svc.runs.enqueue("q", SPEC)
    if state is S.STARTING:
        svc.dispatcher.dispatch("q")
    with pytest.raises(Conflict, match=f"is {state.value}: only a dead_letter run can be replayed"):
        svc.runs.replay(run.id)
    assert svc.runs.get(run.id).state is state


def test_replaying_an_unknown_run_is_not_found(world: tuple[Services, FakeTarget]) -> None:
    svc, _ = world
    with pytest.raises(NotFound):
        svc.runs.replay("nope")


def test_two_replays_at_once_queue_the_run_once(world: tuple[Services, FakeTarget]) -> None:
    # GIVEN a dead-lettered run
    svc, target = world
    run_id = dead_lettered(svc, target)
    # WHEN eight callers replay it at the same moment
    start, outcomes = threading.Barrier(8), []

    def replay() -> None:
        start.wait()
        try:
            svc.runs.replay(run_id)
            outcomes.append("replayed")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=replay) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN exactly one replayed it: one move back in line
    assert sorted(outcomes) == ["conflict"] * 7 + ["replayed"]
    assert [e.to_state for e in svc.runs.events(run_id)].count(S.QUEUED) == 2  # enqueued, replayed
