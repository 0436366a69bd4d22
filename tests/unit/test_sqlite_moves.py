"""How the SQLite store writes a move (its layout, ``sqlite_schema``; its rows, ``sqlite_rows``).

A move rewrites only the columns that change; ``body`` is rewritten only when a field
that only it holds changes. Events are written by the database in the moving statement.
The runs handed out share nothing mutable with the store's parse cache or with each other.
The claim finds its run through an index, so its cost does not grow with the queue.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.adapters.stores.sqlite_rows import CLAIM_WHERE, RUN_WHERE, move_sql
from launchq.domain.models import Run, RunUpdate
from launchq.domain.states import RunState as S
from launchq.errors import StaleWrite
from tests.contract.conftest import build_queue, build_run

T0 = datetime(2030, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(seconds=1)
LEASE = T0 + timedelta(minutes=5)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "launchq.db"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteRunStore]:
    opened = SqliteRunStore(path)
    opened.create_queue(build_queue("gpu", max_jobs=2))
    yield opened
    opened.close()


def _row(path: Path, run_id: str, columns: str) -> tuple[object, ...]:
    with sqlite3.connect(path) as conn:
        row: tuple[object, ...] = conn.execute(
            f"SELECT {columns} FROM runs WHERE id = ?",  # noqa: S608 (the test's own columns)
            (run_id,),
        ).fetchone()
    conn.close()
    return row


def _claimed(store: SqliteRunStore) -> Run:
    run, _ = store.add_run(build_run("gpu"))
    claimed = store.claim("gpu", T0, LEASE)
    assert claimed is not None
    assert claimed.id == run.id
    return claimed


def test_a_move_without_body_fields_leaves_the_body_text_alone(store: SqliteRunStore, path: Path) -> None:
    # GIVEN a claimed run
    run = _claimed(store)
    (body,) = _row(path, run.id, "body")
    # WHEN it moves with only column fields (the lease cleared, a start time)
    store.transition(
        run.id, S.CLAIMED, S.STARTING, "submitted", T1, RunUpdate(clear_lease=True, started_at=T1)
    )
    # THEN the columns changed and the body is the same text
    assert _row(path, run.id, "state, version, claimed_at, started_at, body") == (
        "starting",
        3,
        None,
        T1.isoformat(),
        body,
    )


def test_a_move_that_sets_the_handle_rewrites_the_body(store: SqliteRunStore, path: Path) -> None:
    run = _claimed(store)
    moved = store.transition(run.id, S.CLAIMED, S.STARTING, "submitted", T1, RunUpdate(handle={"pid": "7"}))
    (body,) = _row(path, run.id, "body")
    assert Run.model_validate_json(str(body)).handle == {"pid": "7"}
    assert store.get_run(run.id) == moved
    assert moved.handle == {"pid": "7"}


def test_each_move_records_one_event_and_a_stale_move_records_none(store: SqliteRunStore) -> None:
    # GIVEN a claimed run
    run = _claimed(store)
    # WHEN a move from a state it is not in is refused
    with pytest.raises(StaleWrite, match=f"run {run.id} is claimed, not starting"):
        store.transition(run.id, S.STARTING, S.RUNNING, "late", T1)
    # THEN nothing was stored: same version, no event; the next real move records one event
    assert store.get_run(run.id) == run
    store.transition(run.id, S.CLAIMED, S.STARTING, "submitted", T1)
    events = store.events(run.id)
    assert [(e.from_state, e.to_state, e.reason, e.at) for e in events] == [
        (None, S.QUEUED, "enqueued", run.created_at),
        (S.QUEUED, S.CLAIMED, "claimed by dispatcher", T0),
        (S.CLAIMED, S.STARTING, "submitted", T1),
    ]


def test_runs_handed_out_share_no_nested_value(store: SqliteRunStore) -> None:
    # GIVEN a run read twice, and the run a move returned
    run = _claimed(store)
    first, second = store.get_run(run.id), store.get_run(run.id)
    # WHEN the caller changes nested values of what it got
    first.spec.env["LEAK"] = "1"
    first.spec.entry_point.append("--leak")
    first.build.python_version = "3.99"
    run.spec.args.append("--leak")
    # THEN neither the other copy nor the stored run changed
    for read in (second, store.get_run(run.id)):
        assert read.spec.env == {}
        assert read.spec.entry_point == ["python", "train.py"]
        assert read.spec.args == []
        assert read.build.python_version is None


def test_a_queue_over_its_limit_is_not_claimed_from(store: SqliteRunStore) -> None:
    # GIVEN a queue of max_jobs 2 with two claimed runs and one queued
    _claimed(store)
    _claimed(store)
    waiting, _ = store.add_run(build_run("gpu"))
    # WHEN claimed from  THEN nothing: no slot; once a run ends, the waiting run is claimed
    assert store.claim("gpu", T0, LEASE) is None
    (active, *_) = store.list_runs(queue="gpu", states=[S.CLAIMED])
    store.transition(active.id, S.CLAIMED, S.STOPPED, "stopped", T1)
    claimed = store.claim("gpu", T0, LEASE)
    assert claimed is not None
    assert claimed.id == waiting.id


@pytest.mark.parametrize("where", [CLAIM_WHERE, RUN_WHERE])
def test_moves_find_their_row_through_an_index(store: SqliteRunStore, where: str) -> None:
    # The claim's cost must not grow with the queue: no step of its plan scans the runs table.
    columns = ("claimed_at", "lease_expires_at")
    sql = move_sql(columns, where)
    plan = store._conn().execute(f"EXPLAIN QUERY PLAN {sql}", ("x",) * sql.count("?")).fetchall()
    details = [str(row[3]) for row in plan]
    assert details
    assert not [step for step in details if step.startswith("SCAN")], details


def test_a_move_may_set_only_the_columns_a_move_owns() -> None:
    with pytest.raises(ValueError, match=r"not columns a move sets: \['body'\]"):
        move_sql(("body",), RUN_WHERE)


def test_the_claim_reads_the_line_and_the_slot_count_from_their_partial_indexes(
    store: SqliteRunStore,
) -> None:
    # The line and the active count are partial indexes (a move among active states changes
    # neither); SQLite uses one only for a query naming its condition with the same literals.
    sql = move_sql(("claimed_at", "lease_expires_at"), CLAIM_WHERE)
    plan = store._conn().execute(f"EXPLAIN QUERY PLAN {sql}", ("x",) * sql.count("?")).fetchall()
    details = " | ".join(str(row[3]) for row in plan)
    assert "USING INDEX runs_queued (queue=?)" in details
    assert "USING INDEX runs_active (queue=?)" in details


def test_the_slot_count_follows_runs_into_and_out_of_the_active_states(store: SqliteRunStore) -> None:
    # runs_active holds a run only while it is active: claimed -> starting -> running keeps it,
    # an end drops it, and the count read through the index says so at each step.
    run = _claimed(store)
    assert (store.count_active("gpu"), store.count_queued("gpu")) == (1, 0)
    store.transition(run.id, S.CLAIMED, S.STARTING, "submitted", T1)
    store.transition(run.id, S.STARTING, S.RUNNING, "running", T1)
    assert store.count_active("gpu") == 1
    store.transition(run.id, S.RUNNING, S.FINISHED, "exit 0", T1, RunUpdate(exit_code=0))
    assert store.count_active("gpu") == 0
    store.add_run(build_run("gpu"))
    assert (store.count_active("gpu"), store.count_queued("gpu")) == (0, 1)
