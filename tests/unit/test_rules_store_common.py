"""The transition rules every ``RunStore`` shares (``adapters/stores/common.py``), store-free.

Each store calls these to decide what a move does, so what they return is what every
store writes: the run must come out as a new ``Run`` that shares nothing with the one it
came from, and refusals must name the ``state`` field.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import pytest

from launchq.adapters.stores.common import claimed, enqueued, ensure_allowed, line_key, transitioned
from launchq.adapters.stores.dynamodb import DynamoRunStore
from launchq.adapters.stores.memory import MemoryRunStore
from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.domain.models import Run, RunEvent, RunSpec, RunUpdate
from launchq.domain.priority import Priority
from launchq.domain.states import RunState
from launchq.errors import Conflict, StaleWrite
from launchq.ports import RunStore

S = RunState
T0 = datetime(2030, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)


def a_run(state: RunState = S.QUEUED, **changes: object) -> Run:
    run = Run(
        id="r1",
        queue="gpu",
        entity="local",
        spec=RunSpec(docker_image="python:3.11", entry_point=["python", "train.py"], env={"A": "1"}),
        priority=Priority.HIGH,
        created_at=T0,
        updated_at=T0,
    )
    return run.model_copy(update={"state": state, **changes})


def test_enqueued_stores_any_run_as_queued_with_its_seq_and_a_creation_event() -> None:
    # GIVEN a run handed over in another state (a replayed record, say)
    run = a_run(S.CLAIMED)
    # WHEN it is enqueued
    stored, event = enqueued(run, 7)
    # THEN it is queued at that place in line, and the event says it was created
    assert (stored.state, stored.seq, stored.version) == (S.QUEUED, 7, run.version)
    assert event == RunEvent(run_id="r1", at=T0, from_state=None, to_state=S.QUEUED, reason="enqueued")
    assert run.state is S.CLAIMED


def test_claimed_moves_a_queued_run_with_its_lease() -> None:
    run = a_run()
    moved, event = claimed(run, T1, T1 + timedelta(minutes=5), "dispatcher")
    assert (moved.state, moved.version, moved.updated_at) == (S.CLAIMED, 2, T1)
    assert (moved.claimed_at, moved.lease_expires_at) == (T1, T1 + timedelta(minutes=5))
    assert moved.reason == "claimed by dispatcher"
    assert event == RunEvent(
        run_id="r1", at=T1, from_state=S.QUEUED, to_state=S.CLAIMED, reason="claimed by dispatcher"
    )


def test_transitioned_applies_the_update_and_clears_the_lease_on_request() -> None:
    run = a_run(S.STARTING, claimed_at=T0, lease_expires_at=T1)
    update = RunUpdate(exit_code=0, started_at=T1, clear_lease=True)
    moved, event = transitioned(run, S.STARTING, S.RUNNING, reason="started", now=T1, update=update)
    assert (moved.state, moved.exit_code, moved.started_at, moved.reason) == (S.RUNNING, 0, T1, "started")
    assert (moved.claimed_at, moved.lease_expires_at) == (None, None)
    assert event == RunEvent(run_id="r1", at=T1, from_state=S.STARTING, to_state=S.RUNNING, reason="started")


def test_moved_and_enqueued_runs_share_nothing_with_the_run_they_came_from() -> None:
    run = a_run(S.STARTING)
    moved, _ = transitioned(run, S.STARTING, S.RUNNING, reason="r", now=T1)
    stored, _ = enqueued(run, 1)
    moved.spec.env["A"] = "changed"
    moved.spec.entry_point.append("--moved")
    stored.spec.env["B"] = "added"
    assert run.spec.env == {"A": "1"}
    assert run.spec.entry_point == ["python", "train.py"]


def test_a_move_the_state_machine_forbids_is_a_conflict_on_state() -> None:
    with pytest.raises(Conflict) as caught:
        ensure_allowed(S.FINISHED, S.RUNNING)
    assert type(caught.value) is Conflict
    assert (caught.value.field, caught.value.detail) == ("state", "a run cannot go from finished to running")
    with pytest.raises(Conflict) as moving:
        transitioned(a_run(S.QUEUED), S.QUEUED, S.RUNNING, reason="r", now=T1)
    assert str(moving.value) == "state: a run cannot go from queued to running"


def test_a_run_not_in_the_expected_state_is_a_stale_write_on_state() -> None:
    with pytest.raises(StaleWrite) as caught:
        transitioned(a_run(S.RUNNING), S.STARTING, S.RUNNING, reason="r", now=T1)
    assert (caught.value.field, caught.value.detail) == ("state", "run r1 is running, not starting")


def test_the_line_is_priority_first_then_seq() -> None:
    assert line_key(a_run(priority=Priority.LOW, seq=1)) == (3, 1)
    assert line_key(a_run(priority=Priority.CRITICAL, seq=9)) < line_key(a_run(priority=Priority.HIGH, seq=1))


@pytest.mark.parametrize("adapter", [MemoryRunStore, SqliteRunStore, DynamoRunStore])
def test_every_store_keeps_the_ports_defaults(adapter: type[RunStore]) -> None:
    # a caller holding a RunStore gets the port's documented defaults, whichever store it is
    for name, method in vars(RunStore).items():
        if name.startswith("_") or not callable(method):
            continue
        port = {p.name: p.default for p in inspect.signature(method).parameters.values()}
        mine = {p.name: p.default for p in inspect.signature(getattr(adapter, name)).parameters.values()}
        assert mine == port, name
