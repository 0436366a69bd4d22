"""A database written by the version-3 SQLite store (2026-11-30) keeps working in version 4.

Version 3 kept the runs keyed by id with seq a unique column, the handle, resolved
arguments, build id, image and preemptions only in ``body`` (rewritten by the moves that
set them), the events in ``run_events`` keyed by (seq, idx), and counted slots with the
partial index ``runs_active``. The DDL below is exactly what that code created; the rows
are written with its triggers. Version 4 must read every run and event as they were, count
the slots, and carry on: moves append events after the migrated ones and new runs follow
the old seqs.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.domain.models import Run, RunSpec, RunUpdate
from launchq.domain.priority import Priority
from launchq.domain.states import RunState as S
from tests.contract.conftest import build_run
from tests.unit.test_sqlite_migration import assert_todays_layout

T0 = datetime(2030, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(seconds=1)

V3_SCHEMA = (
    (
        "CREATE TABLE IF NOT EXISTS queues ( name TEXT PRIMARY KEY, version INTEGER NOT NULL, body "
        "TEXT NOT NULL, max_jobs INTEGER )"
    ),
    (
        "CREATE TABLE IF NOT EXISTS runs ( id TEXT PRIMARY KEY, queue TEXT NOT NULL, state TEXT NOT "
        "NULL, priority INTEGER NOT NULL, seq INTEGER NOT NULL UNIQUE, version INTEGER NOT NULL, "
        "idempotency_key TEXT, body TEXT NOT NULL, reason TEXT, updated_at TEXT, claimed_at TEXT, "
        "lease_expires_at TEXT, started_at TEXT, finished_at TEXT, exit_code INTEGER )"
    ),
    (
        "CREATE TABLE IF NOT EXISTS run_events ( seq INTEGER NOT NULL, idx INTEGER NOT NULL, body "
        "TEXT NOT NULL, PRIMARY KEY (seq, idx) ) WITHOUT ROWID"
    ),
    ("CREATE TABLE IF NOT EXISTS schedules ( name TEXT PRIMARY KEY, body TEXT NOT NULL )"),
    ("CREATE TABLE IF NOT EXISTS counters ( name TEXT PRIMARY KEY, value INTEGER NOT NULL )"),
    ("INSERT OR IGNORE INTO counters (name, value) VALUES ('run_seq', 0)"),
    ("CREATE INDEX IF NOT EXISTS runs_queued ON runs (queue, priority, seq) WHERE state = 'queued'"),
    (
        "CREATE INDEX IF NOT EXISTS runs_active ON runs (queue) WHERE state IN ('building', "
        "'claimed', 'running', 'starting', 'stopping')"
    ),
    ("CREATE INDEX IF NOT EXISTS runs_queue_seq ON runs (queue, seq)"),
    (
        "CREATE UNIQUE INDEX IF NOT EXISTS runs_idempotency ON runs (queue, idempotency_key) WHERE "
        "idempotency_key IS NOT NULL"
    ),
    (
        "CREATE TRIGGER IF NOT EXISTS runs_enqueued AFTER INSERT ON runs BEGIN UPDATE counters SET "
        "value = NEW.seq WHERE name = 'run_seq' AND value < NEW.seq; INSERT INTO run_events (seq, "
        "idx, body) VALUES ( NEW.seq, (SELECT COALESCE(MAX(idx), -1) + 1 FROM run_events WHERE seq "
        "= NEW.seq), json_object('run_id', NEW.id, 'at', json_extract(NEW.body, '$.created_at'), "
        "'from_state', NULL, 'to_state', NEW.state, 'reason', 'enqueued') ); END"
    ),
    (
        "CREATE TRIGGER IF NOT EXISTS runs_moved AFTER UPDATE OF version ON runs WHEN NEW.version "
        "<> OLD.version BEGIN INSERT INTO run_events (seq, idx, body) VALUES ( NEW.seq, (SELECT "
        "COALESCE(MAX(idx), -1) + 1 FROM run_events WHERE seq = NEW.seq), json_object('run_id', "
        "NEW.id, 'at', NEW.updated_at, 'from_state', OLD.state, 'to_state', NEW.state, 'reason', "
        "NEW.reason) ); END"
    ),
)

_V3_INSERT = (
    "INSERT INTO runs (id, queue, state, priority, seq, version, idempotency_key, body, reason, updated_at,"
    " claimed_at, lease_expires_at, started_at, finished_at, exit_code)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _run(name: str, seq: int, **fields: object) -> Run:
    return Run.model_validate(
        {
            "id": f"run-{name}",
            "queue": "gpu",
            "entity": "local",
            "spec": RunSpec(entry_point=["python", "train.py"], name=name, priority=Priority.HIGH),
            "priority": Priority.HIGH,
            "seq": seq,
            "created_at": T0,
            "updated_at": T0,
            "reason": "enqueued",
            **fields,
        }
    )


def _iso(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def write_v3_database(path: Path) -> dict[str, Run]:
    """A version-3 file: a queue of max_jobs 2, a queued run, and a run moved to running by
    version 3's statements, its handle, resolved arguments, build and preemptions in its body."""
    queued = _run("queued", 1, idempotency_key="key-1")
    running = _run(
        "running",
        2,
        handle={"pid": "42"},
        resolved={"env": {"X": "1"}},
        build_id="build-9",
        image_uri="registry.local/run:9",
        preemptions=1,
    )
    with sqlite3.connect(path) as conn:
        for statement in V3_SCHEMA:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO queues VALUES ('gpu', 1, ?, 2)",
            ('{"name":"gpu","resource":"local-process","max_jobs":2,"created_at":"2030-01-01T00:00:00Z"}',),
        )
        for run in (queued, running):
            conn.execute(
                _V3_INSERT,
                (run.id, run.queue, "queued", int(run.priority), run.seq, 1, run.idempotency_key,
                 run.model_dump_json(), "enqueued", T0.isoformat(), None, None, None, None, None),
            )  # fmt: skip
        for state, reason, started in (
            ("claimed", "claimed by dispatcher", None),
            ("running", "job is running", T1),
        ):
            conn.execute(
                "UPDATE runs SET state = ?, version = version + 1, reason = ?, updated_at = ?, started_at = ?"
                " WHERE id = 'run-running'",
                (state, reason, T1.isoformat(), _iso(started)),
            )
    conn.close()
    moved = running.model_copy(
        update={
            "state": S.RUNNING,
            "version": 3,
            "reason": "job is running",
            "updated_at": T1,
            "started_at": T1,
        }
    )
    return {"queued": queued, "running": moved}


def test_a_version_3_database_reads_as_written_and_carries_on(tmp_path: Path) -> None:
    # GIVEN a database written by the version-3 store
    path = tmp_path / "launchq.db"
    written = write_v3_database(path)
    # WHEN today's store opens it
    store = SqliteRunStore(path)
    try:
        # THEN every run reads back as written, with its events, and the slot count is right
        for run in written.values():
            assert store.get_run(run.id) == run
        assert [(e.from_state, e.to_state, e.reason) for e in store.events("run-running")] == [
            (None, S.QUEUED, "enqueued"),
            (S.QUEUED, S.CLAIMED, "claimed by dispatcher"),
            (S.CLAIMED, S.RUNNING, "job is running"),
        ]
        assert (store.count_active("gpu"), store.count_queued("gpu")) == (1, 1)
        assert store.position(written["queued"]) == 1
        assert_todays_layout(path)
        # AND it carries on: a move appends its event, new runs follow the old seqs, the
        # idempotency key still holds, and the slot count follows
        running = store.transition(
            "run-running", S.RUNNING, S.FINISHED, "exit 0", T1, RunUpdate(exit_code=0, finished_at=T1)
        )
        assert (running.handle, running.preemptions, running.build_id) == ({"pid": "42"}, 1, "build-9")
        assert [e.reason for e in store.events("run-running")][-1] == "exit 0"
        new, _ = store.add_run(build_run("gpu"))
        assert new.seq == 3
        again, created = store.add_run(build_run("gpu", idempotency_key="key-1"))
        assert (again.id, created) == ("run-queued", False)
        claimed = store.claim("gpu", T1, T1 + timedelta(minutes=5))
        assert claimed is not None
        assert (store.count_active("gpu"), store.count_queued("gpu")) == (1, 1)
    finally:
        store.close()
