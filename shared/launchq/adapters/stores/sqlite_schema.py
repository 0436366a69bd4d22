"""The SQLite store's schema, its migration and connection setup (used by ``...stores.sqlite``).

Layout (schema version 3, ``PRAGMA user_version``): a run's fields that change as it moves
(state, version, reason, timestamps, lease, exit code) are columns, written by each move
with one small ``UPDATE``. ``body`` is the run's pydantic JSON, written at enqueue and again
only when a move changes one of the fields kept nowhere else (handle, build id, image,
resolved args). So a move no longer re-serialises the whole run, and ``body`` stays the
same text for most of a run's life, which lets readers reuse its parse
(``sqlite_rows``). Where ``body`` and a column disagree, the column wins.

Version 3 cut the pages a run's life writes (27.5 to about 24 WAL pages for enqueue, claim
and three moves): the line and the slot count are partial indexes a run is in only while
queued, or only while active, so claimed -> starting -> running touches no index (version
2's line index had the state in its key: every move deleted and re-inserted its entry); and
the events are keyed by the run's seq, not its random id, so the events of the runs still
moving share the last pages of their b-tree. (Events as a JSON array in the run's row cost
7 pages less per life, but every move rewrote the whole history: a run requeued a thousand
times rewrote 150 kB per move. Not kept.)

Older files are migrated once, when a store first opens them, inside the same ``BEGIN
IMMEDIATE`` transaction that checks the version, so two processes opening an old file at once
migrate it once. Version 1 (the columns state/priority/seq/version only, everything else in
``body``): the hot columns are added and filled from ``body`` with SQLite's own
``json_extract``. Versions 1 and 2: the events move to ``run_events``, numbered as they were,
and the old events table, line index and triggers are dropped. Older code must not write a
migrated file (it would look for the events table).

Events are written by the database itself (two triggers, below): inserting a run records
its "enqueued" event and every change of a run's version records the move, in the same
statement. A move is therefore one conditional ``UPDATE``, atomic on its own.

Durability: WAL with ``synchronous = NORMAL``. A committed transaction is in the WAL file
before ``COMMIT`` returns, so it survives the crash or kill of any process. The WAL is only
fsync'd at checkpoints, so a power loss or kernel crash may lose the transactions
committed since the last checkpoint; the database itself stays consistent (never torn). That
is the trade SQLite documents for WAL, and the right one for a local launcher: a lost
"claimed" on power loss is re-adopted or expired by the reconciler like any lost lease.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from launchq.adapters.stores.common import ENQUEUED_REASON
from launchq.domain.states import ACTIVE

SCHEMA_VERSION = 3

#: The columns version 2 added, with their types (the migration fills each from the
#: ``body`` field of the same name); state, priority, seq and version were columns already.
HOT_COLUMNS = {
    "reason": "TEXT",
    "updated_at": "TEXT",
    "claimed_at": "TEXT",
    "lease_expires_at": "TEXT",
    "started_at": "TEXT",
    "finished_at": "TEXT",
    "exit_code": "INTEGER",
}

#: The states that hold a slot, as the SQL literal list the ``runs_active`` index and the
#: slot count share: SQLite uses a partial index only for a query whose WHERE repeats the
#: index's condition with the same literals (a bound parameter is not enough).
ACTIVE_SQL = "(" + ", ".join(f"'{state.value}'" for state in sorted(ACTIVE)) + ")"

TABLES = (
    """
    CREATE TABLE IF NOT EXISTS queues (
        name TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        max_jobs INTEGER
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY,
        queue TEXT NOT NULL,
        state TEXT NOT NULL,
        priority INTEGER NOT NULL,
        seq INTEGER NOT NULL UNIQUE,
        version INTEGER NOT NULL,
        idempotency_key TEXT,
        body TEXT NOT NULL,
        {", ".join(f"{name} {kind}" for name, kind in HOT_COLUMNS.items())}
    )
    """,
    # A run's events keyed by its seq: seqs are handed out in order, so the events of the runs
    # still moving (the recent ones) sit in the last pages of this b-tree, which every move
    # writes anyway; version 2's events table was keyed by the random run id, a page at a
    # random place per event.
    """
    CREATE TABLE IF NOT EXISTS run_events (
        seq INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (seq, idx)
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

INDEXES_AND_TRIGGERS = (
    # The line (queued runs in claim order) and the slot count (active runs) are partial
    # indexes: a run enters each only while in its states, so the moves among active states
    # (claimed -> starting -> running) change no index entry at all.
    "CREATE INDEX IF NOT EXISTS runs_queued ON runs (queue, priority, seq) WHERE state = 'queued'",
    f"CREATE INDEX IF NOT EXISTS runs_active ON runs (queue) WHERE state IN {ACTIVE_SQL}",
    "CREATE INDEX IF NOT EXISTS runs_queue_seq ON runs (queue, seq)",
    """
    CREATE UNIQUE INDEX IF NOT EXISTS runs_idempotency ON runs (queue, idempotency_key)
        WHERE idempotency_key IS NOT NULL
    """,
    # Events are written by the database itself, in the statement that inserts or moves the
    # run, so no write path can forget one and a move is one statement. A move is a change of
    # version (every move bumps it; nothing else does); ``at`` is the move's updated_at.
    f"""
    CREATE TRIGGER IF NOT EXISTS runs_enqueued AFTER INSERT ON runs BEGIN
        UPDATE counters SET value = NEW.seq WHERE name = 'run_seq' AND value < NEW.seq;
        INSERT INTO run_events (seq, idx, body) VALUES (
            NEW.seq,
            (SELECT COALESCE(MAX(idx), -1) + 1 FROM run_events WHERE seq = NEW.seq),
            json_object('run_id', NEW.id, 'at', json_extract(NEW.body, '$.created_at'),
                        'from_state', NULL, 'to_state', NEW.state, 'reason', '{ENQUEUED_REASON}')
        );
    END
    """,  # noqa: S608 (the reason is a constant)
    """
    CREATE TRIGGER IF NOT EXISTS runs_moved AFTER UPDATE OF version ON runs
    WHEN NEW.version <> OLD.version BEGIN
        INSERT INTO run_events (seq, idx, body) VALUES (
            NEW.seq,
            (SELECT COALESCE(MAX(idx), -1) + 1 FROM run_events WHERE seq = NEW.seq),
            json_object('run_id', NEW.id, 'at', NEW.updated_at,
                        'from_state', OLD.state, 'to_state', NEW.state, 'reason', NEW.reason)
        );
    END
    """,
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
    """Create the tables and indexes if missing and migrate an older layout (idempotent;
    safe from several processes: the version is read under the write lock)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version < SCHEMA_VERSION:
            for statement in OLD_INDEXES_AND_TRIGGERS:
                conn.execute(statement)
            for statement in TABLES:
                conn.execute(statement)
            _migrate_columns(conn)
            _migrate_events(conn)
            for statement in INDEXES_AND_TRIGGERS:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.Error:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


#: What versions 1 and 2 had that version 3 replaces: the line index keyed by state (every
#: move deleted and re-inserted its entry) and the triggers writing the events table.
OLD_INDEXES_AND_TRIGGERS = (
    "DROP INDEX IF EXISTS runs_line",
    "DROP TRIGGER IF EXISTS runs_enqueued",
    "DROP TRIGGER IF EXISTS runs_moved",
)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}


def _migrate_columns(conn: sqlite3.Connection) -> None:
    """Add the version-2 columns to version-1 tables and fill them from each row's ``body``."""
    runs = _columns(conn, "runs")
    missing = [name for name in HOT_COLUMNS if name not in runs]
    for name in missing:
        conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {HOT_COLUMNS[name]}")
    if missing:
        assignments = ", ".join(f"{name} = json_extract(body, '$.{name}')" for name in HOT_COLUMNS)
        conn.execute(f"UPDATE runs SET {assignments}")  # noqa: S608 (fixed column names)
    if "max_jobs" not in _columns(conn, "queues"):
        conn.execute("ALTER TABLE queues ADD COLUMN max_jobs INTEGER")
        conn.execute("UPDATE queues SET max_jobs = json_extract(body, '$.max_jobs')")


def _migrate_events(conn: sqlite3.Connection) -> None:
    """Move the events table of versions 1 and 2 (keyed by run id) into ``run_events``
    (keyed by the run's seq), numbers and order kept, then drop it."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone():
        return
    conn.execute(
        "INSERT INTO run_events (seq, idx, body)"
        " SELECT runs.seq, events.idx, events.body FROM events JOIN runs ON runs.id = events.run_id"
    )
    conn.execute("DROP TABLE events")
