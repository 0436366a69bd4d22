"""A database written by the version-7 or version-8 SQLite store keeps working today.

Version 7 counted a queue's busy slots in ``queues.active``, kept by two triggers on the
runs' state; version 8 counted them inside the claim from the partial index
``runs_holding`` (over ``state``), beside the line ``runs_queued``; version 9 keeps both
in one index over a ``line`` column. The tables are otherwise the same, so an old file is
made here as that store left it: today's file with the ``line`` column and its index
dropped, version 8's two indexes made, and for version 7 ``runs_holding`` dropped again and
version 7's triggers and counts in place. Opening it must drop the triggers and the old
indexes, put the runs already holding a slot and the queued ones in line, and keep
``max_jobs`` (a claim on a full queue gets nothing until a run ends).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.adapters.stores.sqlite_schema import ACTIVE_SQL, SCHEMA_VERSION
from launchq.domain.states import RunState as S
from tests.contract.conftest import build_queue, build_run

T0 = datetime(2030, 1, 1, tzinfo=UTC)
LEASE = T0 + timedelta(minutes=5)

#: Version 7's slot triggers, as its ``sqlite_schema`` created them.
V7_TRIGGERS = (
    f"""
    CREATE TRIGGER runs_enqueued_active AFTER INSERT ON runs
    WHEN NEW.state IN {ACTIVE_SQL} BEGIN
        UPDATE queues SET active = active + 1 WHERE name = NEW.queue;
    END
    """,  # noqa: S608 (constants)
    f"""
    CREATE TRIGGER runs_slots AFTER UPDATE OF state ON runs
    WHEN (OLD.state IN {ACTIVE_SQL}) <> (NEW.state IN {ACTIVE_SQL}) BEGIN
        UPDATE queues SET active = active + (CASE WHEN NEW.state IN {ACTIVE_SQL} THEN 1 ELSE -1 END)
        WHERE name = NEW.queue;
    END
    """,  # noqa: S608 (constants)
)


#: Version 8's line and slot indexes, as its ``sqlite_schema`` created them.
V8_INDEXES = (
    "CREATE INDEX runs_queued ON runs (queue, priority, seq) WHERE state = 'queued'",
    "CREATE INDEX runs_holding ON runs (queue) WHERE (state = 'building' OR state = 'claimed'"
    " OR state = 'running' OR state = 'starting' OR state = 'stopping')",
)


def write_old_database(path: Path, version: int) -> dict[str, str]:
    """A version-7 or version-8 file: queue "gpu" (max_jobs 2) with a running and a claimed
    run and two queued ones, queue "cpu" (no limit) with one queued run. The runs' ids by role."""
    store = SqliteRunStore(path)
    store.create_queue(build_queue("gpu", max_jobs=2))
    store.create_queue(build_queue("cpu", max_jobs=-1))
    ids = {name: store.add_run(build_run(queue))[0].id for name, queue in [
        ("running", "gpu"), ("claimed", "gpu"), ("queued", "gpu"), ("later", "gpu"), ("cpu", "cpu"),
    ]}  # fmt: skip
    running = store.claim("gpu", T0, LEASE)
    assert running is not None
    assert running.id == ids["running"]
    store.transition(running.id, S.CLAIMED, S.STARTING, "submitted", T0)
    store.transition(running.id, S.STARTING, S.RUNNING, "running", T0)
    assert store.claim("gpu", T0, LEASE) is not None
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX runs_in_line")
        conn.execute("ALTER TABLE runs DROP COLUMN line")
        for index in V8_INDEXES[: 1 if version == 7 else 2]:
            conn.execute(index)
        if version == 7:
            for trigger in V7_TRIGGERS:
                conn.execute(trigger)
            conn.execute("UPDATE queues SET active = CASE name WHEN 'gpu' THEN 2 ELSE 0 END")
        conn.execute(f"PRAGMA user_version = {version}")
    conn.close()
    return ids


def _objects(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        names = {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master")}
        (version,) = conn.execute("PRAGMA user_version").fetchone()
    conn.close()
    return names | {f"user_version={version}"}


@pytest.mark.parametrize("version", [7, 8])
def test_an_old_database_counts_its_slots_from_the_runs_and_carries_on(tmp_path: Path, version: int) -> None:
    # GIVEN a version-7 or 8 file whose queue "gpu" is full (2 of 2: one running, one claimed)
    path = tmp_path / "launchq.db"
    ids = write_old_database(path, version)
    old = {"runs_slots", "runs_enqueued_active"} if version == 7 else {"runs_holding"}
    assert old | {"runs_queued", f"user_version={version}"} <= _objects(path)
    # WHEN today's store opens it
    store = SqliteRunStore(path)
    try:
        # THEN the triggers and old indexes are gone, the line index is there, and the
        # counts are the runs'
        names = _objects(path)
        assert SCHEMA_VERSION == 9
        assert {"runs_in_line", f"user_version={SCHEMA_VERSION}"} <= names
        assert not {"runs_slots", "runs_enqueued_active", "runs_queued", "runs_holding"} & names
        assert (store.count_active("gpu"), store.count_queued("gpu")) == (2, 2)
        assert (store.count_active("cpu"), store.count_queued("cpu")) == (0, 1)
        # AND max_jobs holds: the full queue gives nothing, the unlimited one its run
        assert store.claim("gpu", T0, LEASE) is None
        cpu = store.claim("cpu", T0, LEASE)
        assert cpu is not None
        assert cpu.id == ids["cpu"]
        # AND the running run ends (its events after its old ones), freeing one slot
        store.transition(ids["running"], S.RUNNING, S.FINISHED, "exit 0", T0)
        assert [e.to_state for e in store.events(ids["running"])] == [
            S.QUEUED, S.CLAIMED, S.STARTING, S.RUNNING, S.FINISHED,
        ]  # fmt: skip
        assert store.count_active("gpu") == 1
        # AND the next claim takes the head of the line into it, and only one
        got = store.claim("gpu", T0, LEASE)
        assert got is not None
        assert got.id == ids["queued"]
        assert store.claim("gpu", T0, LEASE) is None
        assert (store.count_active("gpu"), store.count_queued("gpu")) == (2, 1)
    finally:
        store.close()


@pytest.mark.parametrize("version", [7, 8])
def test_opening_a_migrated_old_database_again_changes_nothing(tmp_path: Path, version: int) -> None:
    # GIVEN a version-7 or 8 file opened (migrated) once
    path = tmp_path / "launchq.db"
    write_old_database(path, version)
    SqliteRunStore(path).close()
    once = _objects(path)
    # WHEN it is opened again  THEN the same objects, and the counts still right
    store = SqliteRunStore(path)
    try:
        assert _objects(path) == once
        assert (store.count_active("gpu"), store.count_queued("gpu")) == (2, 2)
    finally:
        store.close()
