# ruff: noqa: E501 - the version-5 schema is kept verbatim, long lines and all
"""What the version-5 SQLite store wrote: its schema, verbatim, and a file written the way it
wrote one (moves are ``UPDATE``'s that bump the version, and its triggers record the events in
``run_history``). Kept as text here because today's code no longer holds it; used by the
migration tests of versions 4 and 5."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from launchq.domain.models import Run
from tests.contract.conftest import build_queue, build_run

T0 = datetime(2030, 1, 1, tzinfo=UTC)

V5_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    max_jobs INTEGER,
    active INTEGER NOT NULL DEFAULT 0
)
""",
    """
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    queue TEXT NOT NULL,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL,
    version INTEGER NOT NULL,
    idempotency_key TEXT,
    reason TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    claimed_at TEXT,
    lease_expires_at TEXT,
    started_at TEXT,
    finished_at TEXT,
    exit_code INTEGER,
    preemptions INTEGER NOT NULL DEFAULT 0,
    build_id TEXT,
    image_uri TEXT,
    handle TEXT,
    resolved TEXT,
    body TEXT NOT NULL
)
""",
    """
CREATE TABLE IF NOT EXISTS run_history (key INTEGER PRIMARY KEY, body TEXT NOT NULL)
""",
    """
CREATE TABLE IF NOT EXISTS run_logs (seq INTEGER PRIMARY KEY, text TEXT NOT NULL, end INTEGER NOT NULL)
""",
    """
CREATE TABLE IF NOT EXISTS schedules (name TEXT PRIMARY KEY, body TEXT NOT NULL)
""",
    """
CREATE TABLE IF NOT EXISTS jobs (
    name TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (name, version)
) WITHOUT ROWID
""",
    """
CREATE INDEX IF NOT EXISTS runs_queued ON runs (queue, priority, seq) WHERE state = 'queued'
""",
    """
CREATE INDEX IF NOT EXISTS runs_queue_seq ON runs (queue, seq)
""",
    """
CREATE UNIQUE INDEX IF NOT EXISTS runs_idempotency ON runs (queue, idempotency_key)
    WHERE idempotency_key IS NOT NULL
""",
    """
CREATE TRIGGER IF NOT EXISTS runs_enqueued AFTER INSERT ON runs BEGIN
    INSERT INTO run_history (key, body) VALUES (
        (SELECT COALESCE(MAX(key) + 1, NEW.seq << 24) FROM run_history WHERE key BETWEEN NEW.seq << 24 AND (NEW.seq << 24) + 16777215),
        json_object('run_id', NEW.id, 'at', json_extract(NEW.body, '$.created_at'),
                    'from_state', NULL, 'to_state', NEW.state, 'reason', 'enqueued')
    );
END
""",
    """
CREATE TRIGGER IF NOT EXISTS runs_enqueued_active AFTER INSERT ON runs
WHEN NEW.state IN ('building', 'claimed', 'running', 'starting', 'stopping') BEGIN
    UPDATE queues SET active = active + 1 WHERE name = NEW.queue;
END
""",
    """
CREATE TRIGGER IF NOT EXISTS runs_moved AFTER UPDATE OF version ON runs
WHEN NEW.version <> OLD.version BEGIN
    SELECT RAISE(ABORT, 'a run holds at most 16777216 events') WHERE EXISTS (SELECT 1 FROM run_history WHERE key = (NEW.seq << 24) + 16777215);
    INSERT INTO run_history (key, body) VALUES (
        (SELECT COALESCE(MAX(key) + 1, NEW.seq << 24) FROM run_history WHERE key BETWEEN NEW.seq << 24 AND (NEW.seq << 24) + 16777215),
        json_object('run_id', NEW.id, 'at', NEW.updated_at,
                    'from_state', OLD.state, 'to_state', NEW.state, 'reason', NEW.reason)
    );
END
""",
    """
CREATE TRIGGER IF NOT EXISTS runs_slots AFTER UPDATE OF state ON runs
WHEN (OLD.state IN ('building', 'claimed', 'running', 'starting', 'stopping')) <> (NEW.state IN ('building', 'claimed', 'running', 'starting', 'stopping')) BEGIN
    UPDATE queues SET active = active + (CASE WHEN NEW.state IN ('building', 'claimed', 'running', 'starting', 'stopping') THEN 1 ELSE -1 END)
    WHERE name = NEW.queue;
END
""",
)

V5_INSERT = (
    "INSERT INTO runs (id, queue, state, priority, version, idempotency_key, reason, updated_at,"
    " claimed_at, lease_expires_at, started_at, finished_at, exit_code, preemptions, body)"
    " VALUES (?, ?, 'queued', ?, 1, NULL, ?, ?, NULL, NULL, NULL, NULL, NULL, 0, ?)"
)
V5_MOVE = (
    "UPDATE runs SET state = ?, version = version + 1, reason = ?, updated_at = ?, handle = ?"
    " WHERE id = ? AND state = ?"
)


def write_v5_database(
    path: Path, *, with_jobs: bool = True
) -> dict[str, tuple[Run, list[tuple[str | None, str, str]]]]:
    """A version-5 file (``with_jobs=False``: version 4, which had no ``jobs`` table): queue
    ``gpu`` (max_jobs 2), a queued run, and one claimed then submitted with a handle of its
    own column. Returns each run as enqueued with the moves (from, to, reason) it made."""
    queue = build_queue("gpu", max_jobs=2)
    queued, started = build_run("gpu", name="queued"), build_run("gpu", name="started")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in (
            V5_SCHEMA if with_jobs else [s for s in V5_SCHEMA if "TABLE IF NOT EXISTS jobs" not in s]
        ):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO queues (name, version, body, max_jobs) VALUES (?, ?, ?, ?)",
            (queue.name, queue.version, queue.model_dump_json(), queue.max_jobs),
        )
        for run in (queued, started):
            conn.execute(
                V5_INSERT,
                (
                    run.id,
                    run.queue,
                    int(run.priority),
                    run.reason,
                    run.updated_at.isoformat(),
                    run.model_dump_json(),
                ),
            )
        at = T0.isoformat()
        conn.execute(V5_MOVE, ("claimed", "claimed by dispatcher", at, None, started.id, "queued"))
        conn.execute(V5_MOVE, ("starting", "submitted", at, '{"pid":"42"}', started.id, "claimed"))
        conn.execute(f"PRAGMA user_version = {5 if with_jobs else 4}")
    finally:
        conn.close()
    return {
        queued.id: (queued, [(None, "queued", "enqueued")]),
        started.id: (
            started,
            [
                (None, "queued", "enqueued"),
                ("queued", "claimed", "claimed by dispatcher"),
                ("claimed", "starting", "submitted"),
            ],
        ),
    }
