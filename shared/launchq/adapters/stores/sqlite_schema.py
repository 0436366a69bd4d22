"""The SQLite store's schema and connection setup (used by ``launchq.adapters.stores.sqlite``).

Each record is kept as its pydantic JSON in ``body``; the columns next to it (state,
priority, seq, version, ...) are copies kept in sync for indexing and conditional writes.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS queues (
        name TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        body TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY,
        queue TEXT NOT NULL,
        state TEXT NOT NULL,
        priority INTEGER NOT NULL,
        seq INTEGER NOT NULL UNIQUE,
        version INTEGER NOT NULL,
        idempotency_key TEXT,
        body TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS runs_line ON runs (queue, state, priority, seq)",
    "CREATE INDEX IF NOT EXISTS runs_queue_seq ON runs (queue, seq)",
    """
    CREATE UNIQUE INDEX IF NOT EXISTS runs_idempotency ON runs (queue, idempotency_key)
        WHERE idempotency_key IS NOT NULL
    """,
    """
    CREATE TABLE IF NOT EXISTS events (
        run_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (run_id, idx)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS schedules (
        name TEXT PRIMARY KEY,
        body TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    )
    """,
    "INSERT OR IGNORE INTO counters (name, value) VALUES ('run_seq', 0)",
)


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode (transactions are explicit), WAL, with a busy timeout.

    Raises sqlite3.OperationalError when the file cannot be opened.
    """
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables and indexes if missing (idempotent; safe from several processes)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in SCHEMA:
            conn.execute(statement)
    except sqlite3.Error:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
