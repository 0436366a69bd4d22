"""A database written by the version-1 or version-2 SQLite store keeps working after the layout changes.

Version 1 (up to 2026-11-30) kept each run whole in ``body`` and only state, priority,
seq and version as columns, and wrote events itself. Version 2 added the hot columns and
wrote events with triggers, still into the events table. The DDL and rows below are exactly
what that code wrote; the store must open such a file, migrate it once, read every run
and event as they were, and carry on moving them, with new events after the old.
"""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.adapters.stores.sqlite_schema import SCHEMA_VERSION
from launchq.domain.models import Queue, Run, RunEvent, RunSpec, RunUpdate
from launchq.domain.priority import Priority
from launchq.domain.states import RunState as S

T0 = datetime(2030, 1, 1, tzinfo=UTC)

V1_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS queues (name TEXT PRIMARY KEY, version INTEGER NOT NULL, body TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY, queue TEXT NOT NULL, state TEXT NOT NULL, priority INTEGER NOT NULL,
        seq INTEGER NOT NULL UNIQUE, version INTEGER NOT NULL, idempotency_key TEXT, body TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS runs_line ON runs (queue, state, priority, seq)",
    "CREATE INDEX IF NOT EXISTS runs_queue_seq ON runs (queue, seq)",
    """CREATE UNIQUE INDEX IF NOT EXISTS runs_idempotency ON runs (queue, idempotency_key)
        WHERE idempotency_key IS NOT NULL""",
    """CREATE TABLE IF NOT EXISTS events (
        run_id TEXT NOT NULL, idx INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (run_id, idx)
    ) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS schedules (name TEXT PRIMARY KEY, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO counters (name, value) VALUES ('run_seq', 0)",
)


def _v1_run(name: str, seq: int, state: S, version: int, **fields: object) -> Run:
    return Run.model_validate(
        {
            "id": f"run-{name}",
            "queue": "gpu",
            "entity": "local",
            "spec": RunSpec(entry_point=["python", "train.py"], name=name, priority=Priority.HIGH),
            "priority": Priority.HIGH,
            "state": state,
            "seq": seq,
            "version": version,
            "created_at": T0,
            "updated_at": T0 + timedelta(seconds=version),
            **fields,
        }
    )


def _v1_events(run: Run, path: list[S]) -> list[RunEvent]:
    moves = zip([None, *path], path, strict=False)
    return [
        RunEvent(run_id=run.id, at=T0, from_state=src, to_state=dst, reason=f"step {i}")
        for i, (src, dst) in enumerate(moves)
    ]


def write_v1_database(path: Path) -> dict[str, tuple[Run, list[RunEvent]]]:
    """A version-1 file holding a queue (max_jobs 2) and three runs, as that code wrote them."""
    queued = _v1_run("queued", 1, S.QUEUED, 1, idempotency_key="key-1")
    running = _v1_run(
        "running", 2, S.RUNNING, 4, handle={"pid": "42"}, started_at=T0, reason="step 3", exit_code=None
    )
    finished = _v1_run("finished", 3, S.FINISHED, 5, exit_code=0, finished_at=T0, reason="step 4")
    runs = {
        "queued": (queued, _v1_events(queued, [S.QUEUED])),
        "running": (running, _v1_events(running, [S.QUEUED, S.CLAIMED, S.STARTING, S.RUNNING])),
        "finished": (
            finished,
            _v1_events(finished, [S.QUEUED, S.CLAIMED, S.STARTING, S.RUNNING, S.FINISHED]),
        ),
    }
    queue = Queue(name="gpu", resource="local-process", max_jobs=2, created_at=T0)
    with sqlite3.connect(path) as conn:
        for statement in V1_SCHEMA:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO queues VALUES (?, ?, ?)", (queue.name, queue.version, queue.model_dump_json())
        )
        for run, events in runs.values():
            conn.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run.id, run.queue, run.state.value, int(run.priority), run.seq, run.version,
                 run.idempotency_key, run.model_dump_json()),
            )  # fmt: skip
            conn.executemany(
                "INSERT INTO events VALUES (?, ?, ?)",
                [(run.id, idx, event.model_dump_json()) for idx, event in enumerate(events)],
            )
        conn.execute("UPDATE counters SET value = 3")
    conn.close()
    return runs


def assert_todays_layout(path: Path) -> None:
    """Today's tables, indexes and triggers (version 4's, version 5's jobs, version 6's spill
    trigger, version 7's api_keys, version 9's line index), and nothing of the older layouts."""
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    today = {
        "runs_in_line",
        "runs_history_spill",
        "run_history",
        "run_logs",
        "jobs",
        "api_keys",
    }
    assert today <= names
    gone = {
        "events",
        "runs_line",
        "run_events",
        "runs_active",
        "counters",
        "runs_v3",
        "runs_queued",
        "runs_holding",
        "runs_enqueued",
        "runs_moved",
    }
    assert not gone & names


def assert_reads_as_written(store: SqliteRunStore, written: dict[str, tuple[Run, list[RunEvent]]]) -> None:
    for run, events in written.values():
        assert store.get_run(run.id) == run
        assert store.events(run.id) == events


def test_a_version_1_database_opens_with_every_run_and_event_as_it_was(tmp_path: Path) -> None:
    # GIVEN a database written by the version-1 store
    path = tmp_path / "launchq.db"
    written = write_v1_database(path)
    # WHEN today's store opens it
    store = SqliteRunStore(path)
    try:
        # THEN every run reads back equal to what was written, and so do its events
        assert_reads_as_written(store, written)
        assert [r.id for r in store.list_runs(queue="gpu")] == ["run-finished", "run-running", "run-queued"]
        assert store.position(written["queued"][0]) == 1
        assert store.count_active("gpu") == 1
        # AND the file was migrated once: today's version, the new columns filled from the bodies
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
            assert conn.execute("SELECT max_jobs FROM queues").fetchone() == (2,)
            assert conn.execute(
                "SELECT started_at, reason FROM runs WHERE id = 'run-running'"
            ).fetchone() == (
                "2030-01-01T00:00:00Z",
                "step 3",
            )
        conn.close()
    finally:
        store.close()


def test_a_migrated_database_carries_on_claiming_and_moving_runs(tmp_path: Path) -> None:
    # GIVEN a version-1 database opened by today's store
    path = tmp_path / "launchq.db"
    write_v1_database(path)
    store = SqliteRunStore(path)
    try:
        # WHEN its queued run is claimed (the queue's limit of 2 read from the old body) ...
        claimed = store.claim("gpu", T0, T0 + timedelta(minutes=5))
        assert claimed is not None
        assert claimed.id == "run-queued"
        assert store.claim("gpu", T0, T0) is None  # nothing else queued
        # ... and its running run finishes
        done = store.transition("run-running", S.RUNNING, S.FINISHED, "exit 0", T0, RunUpdate(exit_code=0))
        # THEN the moves are stored, and their events follow the old ones in order
        assert (done.state, done.exit_code, done.version, done.handle) == (S.FINISHED, 0, 5, {"pid": "42"})
        assert store.get_run("run-running") == done
        assert [e.reason for e in store.events("run-running")] == [
            "step 0",
            "step 1",
            "step 2",
            "step 3",
            "exit 0",
        ]
        assert [e.to_state for e in store.events("run-queued")] == [S.QUEUED, S.CLAIMED]
        # AND an idempotent enqueue still finds the old run by its key; a new run gets the next seq
        again, created = store.add_run(_v1_run("again", 0, S.QUEUED, 1, id="other", idempotency_key="key-1"))
        assert (again.id, created) == ("run-queued", False)
        fresh, created = store.add_run(_v1_run("fresh", 0, S.QUEUED, 1, id="fresh"))
        assert (fresh.seq, created) == (4, True)
        assert [e.reason for e in store.events("fresh")] == ["enqueued"]
    finally:
        store.close()


def test_stores_opening_a_version_1_database_at_once_migrate_it_once(tmp_path: Path) -> None:
    # GIVEN a version-1 database
    path = tmp_path / "launchq.db"
    written = write_v1_database(path)
    # WHEN four stores open it at the same moment (an error in any is raised by map)
    start = threading.Barrier(4)

    def open_it(_: int) -> SqliteRunStore:
        start.wait()
        return SqliteRunStore(path)

    with ThreadPoolExecutor(max_workers=4) as pool:
        opened = list(pool.map(open_it, range(4)))
    # THEN all open, and every run reads as written
    for store in opened:
        assert store.get_run("run-running") == written["running"][0]
        store.close()


#: What the version-2 store (2026-11-30, hours later) did to a version-1 file: the hot fields
#: as columns, the queue's limit as a column, events written by these two triggers.
V2_UPGRADE = (
    *(
        f"ALTER TABLE runs ADD COLUMN {name} {kind}"
        for name, kind in (
            ("reason", "TEXT"),
            ("updated_at", "TEXT"),
            ("claimed_at", "TEXT"),
            ("lease_expires_at", "TEXT"),
            ("started_at", "TEXT"),
            ("finished_at", "TEXT"),
            ("exit_code", "INTEGER"),
        )
    ),
    "UPDATE runs SET reason = json_extract(body, '$.reason'),"
    " updated_at = json_extract(body, '$.updated_at'), started_at = json_extract(body, '$.started_at'),"
    " finished_at = json_extract(body, '$.finished_at'),"
    " exit_code = json_extract(body, '$.exit_code')",
    "ALTER TABLE queues ADD COLUMN max_jobs INTEGER",
    "UPDATE queues SET max_jobs = json_extract(body, '$.max_jobs')",
    """CREATE TRIGGER IF NOT EXISTS runs_enqueued AFTER INSERT ON runs BEGIN
        UPDATE counters SET value = NEW.seq WHERE name = 'run_seq' AND value < NEW.seq;
        INSERT INTO events (run_id, idx, body) VALUES (
            NEW.id,
            (SELECT COALESCE(MAX(idx), -1) + 1 FROM events WHERE run_id = NEW.id),
            json_object('run_id', NEW.id, 'at', json_extract(NEW.body, '$.created_at'),
                        'from_state', NULL, 'to_state', NEW.state, 'reason', 'enqueued')
        );
    END""",
    """CREATE TRIGGER IF NOT EXISTS runs_moved AFTER UPDATE OF version ON runs
    WHEN NEW.version <> OLD.version BEGIN
        INSERT INTO events (run_id, idx, body) VALUES (
            NEW.id,
            (SELECT COALESCE(MAX(idx), -1) + 1 FROM events WHERE run_id = NEW.id),
            json_object('run_id', NEW.id, 'at', NEW.updated_at,
                        'from_state', OLD.state, 'to_state', NEW.state, 'reason', NEW.reason)
        );
    END""",
    "PRAGMA user_version = 2",
)


def write_v2_database(path: Path) -> dict[str, tuple[Run, list[RunEvent]]]:
    """A version-2 file: the version-1 file upgraded as version 2 did, then one move made by
    version 2's statement (its event written by version 2's trigger)."""
    runs = write_v1_database(path)
    with sqlite3.connect(path) as conn:
        for statement in V2_UPGRADE:
            conn.execute(statement)
        conn.execute(
            "UPDATE runs SET state = 'claimed', version = version + 1, reason = 'claimed',"
            " updated_at = '2030-01-01T00:00:00Z' WHERE id = 'run-queued' AND state = 'queued'"
        )
    conn.close()
    queued, events = runs["queued"]
    moved = queued.model_copy(
        update={"state": S.CLAIMED, "version": 2, "reason": "claimed", "updated_at": T0}
    )
    claim = RunEvent(run_id=queued.id, at=T0, from_state=S.QUEUED, to_state=S.CLAIMED, reason="claimed")
    return {**runs, "queued": (moved, [*events, claim])}


def test_a_version_2_database_keeps_its_runs_and_events_and_loses_the_old_layout(tmp_path: Path) -> None:
    # GIVEN a database written by the version-2 store (events in their own table)
    path = tmp_path / "launchq.db"
    written = write_v2_database(path)
    # WHEN today's store opens it
    store = SqliteRunStore(path)
    try:
        # THEN every run and its events read as written, in order
        assert_reads_as_written(store, written)
        assert store.count_active("gpu") == 2
        # AND moves carry on, each appending its event after the migrated ones
        store.transition("run-queued", S.CLAIMED, S.STOPPED, "stopped", T0)
        assert [e.reason for e in store.events("run-queued")] == ["step 0", "claimed", "stopped"]
        assert store.count_active("gpu") == 1
        # AND the layout is today's: no events table, no state-keyed line index
        assert_todays_layout(path)
    finally:
        store.close()
