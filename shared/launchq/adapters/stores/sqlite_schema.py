"""The SQLite store's schema and connection setup (used by ``...stores.sqlite``).

Layout (schema version 5, ``PRAGMA user_version``). Shaped by what a run's life writes to
the WAL: every page a commit touches is a 4 kB frame, and frames, not rows or bytes, are
most of a move's cost (about 20 us each on a VM's disk, against a few us of SQL). Measured
per life (enqueue, claim, submit, end) with the WAL's frame headers: 23.9 frames in
version 3, 14.6 here.

- ``runs`` is keyed by ``seq`` (the rowid: the order of enqueue, never reused since runs
  are never deleted), so the runs still moving share the table's last pages and no separate
  index keeps seq unique. Every field a move may change is a column (state, version,
  reason, timestamps, lease, exit code, preemptions, build id, image, and the handle and
  resolved arguments as JSON text); ``body`` is the run as enqueued (pydantic JSON) and is
  never rewritten, so its parse is cached by its text (``sqlite_rows``). A NULL in
  handle/resolved/build_id/image_uri means "as in body" (what enqueue and the migration
  leave); otherwise the column wins.
- The line is a partial index a run is in only while queued (``runs_queued``). The slot
  count is a column of the queue (``queues.active``) kept by a trigger on a change of state
  into or out of the active states: in version 3 it was a partial index on the state,
  which SQLite rewrites on every change of the column its WHERE names (claimed -> starting
  rewrote it though the run stayed in it), one frame per move.
- Events are the rows of ``run_history``, keyed by ``seq * 2**24 + index``: a rowid table
  whose keys grow with the runs, so appending goes to its last page (version 3 keyed a
  WITHOUT ROWID b-tree by (seq, idx), whose splits wrote 1.7 pages per event). A run holds
  at most 2**24 events: a trigger refuses the move that would write one more (its key
  would be the next run's), so nothing is ever overwritten.
- ``run_logs``: the log tail an agent shipped for a run (``RunStore.save_log_tail``).
- ``jobs``: every version of every launch job, keyed by (name, version); a version is
  inserted once and never updated (``sqlite_jobs``). Version 5 added it, and only it.

Events are written by the database itself (triggers, below): inserting a run records its
"enqueued" event and every change of a run's version records the move, in the same
statement. A move is therefore one conditional ``UPDATE``, atomic on its own.

Durability: WAL with ``synchronous = NORMAL``. A committed transaction is in the WAL file
before ``COMMIT`` returns, so it survives the crash or kill of any process. The WAL is only
fsync'd at checkpoints, so a power loss or kernel crash may lose the transactions
committed since the last checkpoint; the database itself stays consistent (never torn). That
is the trade SQLite documents for WAL, and the right one for a local launcher: a lost
"claimed" on power loss is re-adopted or expired by the reconciler like any lost lease.

Older files are migrated once, when a store first opens them, inside the ``BEGIN
IMMEDIATE`` transaction that reads the version: versions 1 to 3 to version 4's layout
(``sqlite_migrate``), then a version 4 file gains the ``jobs`` table (every other
``CREATE ... IF NOT EXISTS`` below finds its object there already). A version 5 file
opened by version 4's code is left as it is: that code never looks at ``jobs``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from launchq.adapters.stores.common import ENQUEUED_REASON
from launchq.domain.states import ACTIVE

SCHEMA_VERSION = 5
#: The last layout ``sqlite_migrate`` rebuilds to; later versions only add tables.
REBUILT_VERSION = 4

#: Bits of a ``run_history`` key that number a run's events (the rest is the run's seq).
EVENT_BITS = 24
EVENTS_PER_RUN = 1 << EVENT_BITS

#: The states that hold a slot, as an SQL literal list (the trigger keeping ``queues.active``).
ACTIVE_SQL = "(" + ", ".join(f"'{state.value}'" for state in sorted(ACTIVE)) + ")"

RUNS_TABLE = """
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
"""

#: Version 5: launch jobs. WITHOUT ROWID: the key is the table's only index, and a job's
#: versions are neighbours in it (the latest is one step back from the name's end).
JOBS_TABLE = """
    CREATE TABLE IF NOT EXISTS jobs (
        name TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (name, version)
    ) WITHOUT ROWID
"""

TABLES = (
    """
    CREATE TABLE IF NOT EXISTS queues (
        name TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        max_jobs INTEGER,
        active INTEGER NOT NULL DEFAULT 0
    )
    """,
    RUNS_TABLE,
    "CREATE TABLE IF NOT EXISTS run_history (key INTEGER PRIMARY KEY, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS run_logs (seq INTEGER PRIMARY KEY, text TEXT NOT NULL, end INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS schedules (name TEXT PRIMARY KEY, body TEXT NOT NULL)",
    JOBS_TABLE,
)

_NEXT_EVENT = (
    f"(SELECT COALESCE(MAX(key) + 1, NEW.seq << {EVENT_BITS}) FROM run_history"  # noqa: S608 (constants)
    f" WHERE key BETWEEN NEW.seq << {EVENT_BITS} AND (NEW.seq << {EVENT_BITS}) + {EVENTS_PER_RUN - 1})"
)

#: Refuses a run's event past its range (the next run's keys): the move fails, nothing is
#: overwritten. One look at the last key of the run's range, which the insert reads anyway.
_HISTORY_FULL = (
    f"SELECT RAISE(ABORT, 'a run holds at most {EVENTS_PER_RUN} events') WHERE EXISTS"  # noqa: S608
    f" (SELECT 1 FROM run_history WHERE key = (NEW.seq << {EVENT_BITS}) + {EVENTS_PER_RUN - 1});"
)

INDEXES_AND_TRIGGERS = (
    "CREATE INDEX IF NOT EXISTS runs_queued ON runs (queue, priority, seq) WHERE state = 'queued'",
    "CREATE INDEX IF NOT EXISTS runs_queue_seq ON runs (queue, seq)",
    """
    CREATE UNIQUE INDEX IF NOT EXISTS runs_idempotency ON runs (queue, idempotency_key)
        WHERE idempotency_key IS NOT NULL
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS runs_enqueued AFTER INSERT ON runs BEGIN
        INSERT INTO run_history (key, body) VALUES (
            {_NEXT_EVENT},
            json_object('run_id', NEW.id, 'at', json_extract(NEW.body, '$.created_at'),
                        'from_state', NULL, 'to_state', NEW.state, 'reason', '{ENQUEUED_REASON}')
        );
    END
    """,  # noqa: S608 (constants)
    f"""
    CREATE TRIGGER IF NOT EXISTS runs_enqueued_active AFTER INSERT ON runs
    WHEN NEW.state IN {ACTIVE_SQL} BEGIN
        UPDATE queues SET active = active + 1 WHERE name = NEW.queue;
    END
    """,  # noqa: S608 (constants)
    # A move is a change of version (every move bumps it; nothing else does); ``at`` is the
    # move's updated_at.
    f"""
    CREATE TRIGGER IF NOT EXISTS runs_moved AFTER UPDATE OF version ON runs
    WHEN NEW.version <> OLD.version BEGIN
        {_HISTORY_FULL}
        INSERT INTO run_history (key, body) VALUES (
            {_NEXT_EVENT},
            json_object('run_id', NEW.id, 'at', NEW.updated_at,
                        'from_state', OLD.state, 'to_state', NEW.state, 'reason', NEW.reason)
        );
    END
    """,  # noqa: S608 (constants)
    f"""
    CREATE TRIGGER IF NOT EXISTS runs_slots AFTER UPDATE OF state ON runs
    WHEN (OLD.state IN {ACTIVE_SQL}) <> (NEW.state IN {ACTIVE_SQL}) BEGIN
        UPDATE queues SET active = active + (CASE WHEN NEW.state IN {ACTIVE_SQL} THEN 1 ELSE -1 END)
        WHERE name = NEW.queue;
    END
    """,  # noqa: S608 (constants)
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
    from launchq.adapters.stores.sqlite_migrate import to_version_4  # the old layouts' own module

    conn.execute("BEGIN IMMEDIATE")
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version < SCHEMA_VERSION:
            has_runs = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'")
            if version < REBUILT_VERSION and has_runs.fetchone():
                to_version_4(conn)
            for statement in (*TABLES, *INDEXES_AND_TRIGGERS):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.Error:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
