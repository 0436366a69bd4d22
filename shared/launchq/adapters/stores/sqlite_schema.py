"""The SQLite store's schema and connection setup (used by ``...stores.sqlite``).

Layout (schema version 9, ``PRAGMA user_version``). Shaped by what a run's life costs:
every page a commit touches is a 4 kB frame written to the WAL (about 20 us each on a VM's
disk), and every row a statement writes besides the run's is b-tree work (a trigger's
insert into a second table cost as much as the move itself). Measured per life (enqueue,
claim, submit, end): 23.9 WAL frames in version 3, 14.6 in version 4, about 10.5 here;
the four statements alone take about 300 us on disk against about 600 us in version 5.

- ``runs`` is keyed by ``seq`` (the rowid: the order of enqueue, never reused since runs
  are never deleted), so the runs still moving share the table's last pages and no separate
  index keeps seq unique. Every field a move may change is a column (state, version,
  reason, timestamps, lease, exit code, preemptions, build id, image, and the handle and
  resolved arguments as JSON text); ``body`` is the run as enqueued (pydantic JSON) and is
  never rewritten, so its parse is cached by its text (``sqlite_rows``). A NULL in
  handle/resolved/build_id/image_uri means "as in body" (what enqueue and the migration
  leave); otherwise the column wins.
- Where a run stands is its ``line`` column (version 9): ``WAITING`` (0) while queued,
  ``HOLDING`` (1) while it holds one of its queue's slots (``ACTIVE``), NULL once it holds
  neither. One partial index of the runs with a line, ``runs_in_line`` (queue, line,
  priority, seq), is both the queue's line (its ``WAITING`` entries in priority order) and
  its slots (the claim counts the ``HOLDING`` entries inside its own write, so no row
  outside the run's is written to keep a count). Only a move that changes ``line`` names
  the column, and SQLite leaves an index alone when an ``UPDATE`` sets none of the columns
  it and its WHERE read: the moves between active states (claimed -> starting -> running)
  write no index page, and a claim writes one index page, not two (its two entries are
  neighbours). Version 8 had two partial indexes over ``state`` (``runs_queued`` and
  ``runs_holding``), so every move wrote one of them: 12 WAL frames a life, 10 now.
  Versions 4 to 7 kept the count in ``queues.active`` with a trigger on every change of
  state (about 0.3 M instructions a life, counted with callgrind).
- Events live in the run's own row: ``history`` is the text of its events, each
  ``,[at, from_state, to_state, reason]`` (a JSON array with a leading comma), and every
  statement that moves a run appends the move's event to it (``history = history || ?``)
  in the same statement, so the event and the move are one atomic write of one row
  (version 5 inserted a ``run_history`` row from a trigger: a second b-tree and page per
  move). A run with a long history does not grow without bound: when ``history`` passes
  ``SPILL_CHARS`` a trigger moves the text, whole, into ``run_history`` (a chunk keyed by
  ``seq * 2**24 + index``, so a run's chunks are neighbours and in order) and empties the
  column, in the same statement. A run's events are its chunks in key order, then its
  ``history``. A run holds at most 2**24 chunks: the spill trigger refuses the move that
  would write one more (its key would be the next run's), so nothing is ever overwritten.
- ``run_logs``: the log tail an agent shipped for a run (``RunStore.save_log_tail``).
- ``jobs``: every version of every launch job, keyed by (name, version); a version is
  inserted once and never updated (``sqlite_jobs``). Version 5 added it, and only it.
- ``api_keys``: API keys by id, only their secret's hash (``sqlite_keys``). Version 7
  added it, and only it: a version 6 file just gains the table.

A move is one conditional ``UPDATE`` that sets the new state, bumps the version and
appends the event (``sqlite_rows.move_sql``, the only statement that changes a run's
version), atomic on its own; an insert writes the "enqueued" event with the row. The move
is conditional on the version (and lease) the store read just before it, so the row it
hands back is the row read with the move's changes laid over it (no ``RETURNING``).

Durability: WAL with ``synchronous = NORMAL``. A committed transaction is in the WAL file
before ``COMMIT`` returns, so it survives the crash or kill of any process. The WAL is only
fsync'd at checkpoints, so a power loss or kernel crash may lose the transactions
committed since the last checkpoint; the database itself stays consistent (never torn). That
is the trade SQLite documents for WAL, and the right one for a local launcher: a lost
"claimed" on power loss is re-adopted or expired by the reconciler like any lost lease.

Older files are migrated once, when a store first opens them, inside the ``BEGIN
IMMEDIATE`` transaction that reads the version: versions 1 to 3 to version 4's layout
(``sqlite_migrate``), then versions 4 and 5 to version 6 (the ``history`` column added,
each event row of ``run_history`` rewritten as a one-event chunk, the event triggers
dropped), then versions 4 to 7 to version 8 (the slot triggers dropped), then versions 4
to 8 to version 9 (the ``line`` column added and set from each run's state, the two state
indexes dropped), and the ``jobs`` table created where missing (every other ``CREATE ...
IF NOT EXISTS`` below finds its object there already).
Older code must not write a version 6 file: it would move runs without recording their
events; nor a version 8 file: its claims would read a ``queues.active`` nothing keeps; nor
a version 9 file: the runs it enqueued would have no line and never be claimed.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from launchq.domain.states import ACTIVE, RunState

SCHEMA_VERSION = 9
#: The last layout ``sqlite_migrate`` rebuilds to; later versions only add tables.
REBUILT_VERSION = 4

#: Bits of a ``run_history`` key that number a run's chunks (the rest is the run's seq).
EVENT_BITS = 24
CHUNKS_PER_RUN = 1 << EVENT_BITS
#: A run's ``history`` longer than this (characters) is spilled into ``run_history``: a
#: row stays well inside one 4 kB page with its body (a typical life's events are ~500).
SPILL_CHARS = 2000

#: The states that hold a slot, as an SQL literal list (older layouts' migrations).
ACTIVE_SQL = "(" + ", ".join(f"'{state.value}'" for state in sorted(ACTIVE)) + ")"

#: ``runs.line``: a queued run waits in its queue's line, an active one holds a slot.
WAITING, HOLDING = 0, 1
#: ``line`` of a run in each state (NULL, None here, for the states that hold neither).
LINES: dict[RunState, int | None] = {
    state: WAITING if state is RunState.QUEUED else HOLDING if state in ACTIVE else None for state in RunState
}
#: ``line`` as ``state`` sets it, in SQL: what the migration to version 9 writes.
LINE_OF_STATE = f"CASE WHEN state = 'queued' THEN {WAITING} WHEN state IN {ACTIVE_SQL} THEN {HOLDING} END"

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
        body TEXT NOT NULL,
        history TEXT NOT NULL DEFAULT '',
        line INTEGER
    )
"""

#: Version 5: launch jobs. WITHOUT ROWID: the key is the table's only index, and a job's
#: versions are neighbours in it (the latest is one step back from the name's end).
JOBS_TABLE = """
    CREATE TABLE IF NOT EXISTS jobs (
        name TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (name, version)
    ) WITHOUT ROWID
"""

#: Version 7: API keys (``sqlite_keys``); ``entity`` is a column so one entity's keys are one lookup.
API_KEYS_TABLE = """
    CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY, entity TEXT NOT NULL, body TEXT NOT NULL
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
    API_KEYS_TABLE,
)

_NEXT_CHUNK = (
    f"(SELECT COALESCE(MAX(key) + 1, NEW.seq << {EVENT_BITS}) FROM run_history"  # noqa: S608 (constants)
    f" WHERE key BETWEEN NEW.seq << {EVENT_BITS} AND (NEW.seq << {EVENT_BITS}) + {CHUNKS_PER_RUN - 1})"
)

#: Refuses a run's chunk past its range (the next run's keys): the move fails, nothing is
#: overwritten. One look at the last key of the run's range, which the insert reads anyway.
_HISTORY_FULL = (
    f"SELECT RAISE(ABORT, 'a run holds at most {CHUNKS_PER_RUN} history chunks') WHERE EXISTS"  # noqa: S608
    f" (SELECT 1 FROM run_history WHERE key = (NEW.seq << {EVENT_BITS}) + {CHUNKS_PER_RUN - 1});"
)

INDEXES_AND_TRIGGERS = (
    "CREATE INDEX IF NOT EXISTS runs_queue_seq ON runs (queue, seq)",
    """
    CREATE UNIQUE INDEX IF NOT EXISTS runs_idempotency ON runs (queue, idempotency_key)
        WHERE idempotency_key IS NOT NULL
    """,
    # A long history moves, whole, into a chunk of run_history (read back in key order).
    f"""
    CREATE TRIGGER IF NOT EXISTS runs_history_spill AFTER UPDATE OF history ON runs
    WHEN length(NEW.history) > {SPILL_CHARS} BEGIN
        {_HISTORY_FULL}
        INSERT INTO run_history (key, body) VALUES ({_NEXT_CHUNK}, NEW.history);
        UPDATE runs SET history = '' WHERE seq = NEW.seq;
    END
    """,  # noqa: S608 (constants)
    # Version 9: the queue's line and the runs holding its slots, in one index.
    "CREATE INDEX IF NOT EXISTS runs_in_line ON runs (queue, line, priority, seq) WHERE line IS NOT NULL",
)


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode (transactions are explicit), WAL, with a busy timeout.

    Raises sqlite3.OperationalError when the file cannot be opened.
    """
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        _switch_to_wal(conn, busy_timeout)
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def _switch_to_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """``PRAGMA journal_mode = WAL``, retried while another connection holds the file.

    Switching a rollback-journal file (a new or old file) to WAL needs an exclusive lock,
    and SQLite answers "locked" at once, without its busy handler, when another connection
    is switching it at the same moment (four stores opening one old file at once did).
    """
    deadline = time.monotonic() + busy_timeout
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables and indexes if missing and migrate an older layout (idempotent;
    safe from several processes: the version is read under the write lock)."""
    from launchq.adapters.stores.sqlite_migrate import (  # old layouts' own module
        to_version_4,
        to_version_6,
        to_version_8,
        to_version_9,
    )

    conn.execute("BEGIN IMMEDIATE")
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version < SCHEMA_VERSION:
            has_runs = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'")
            if has_runs.fetchone():
                if version < REBUILT_VERSION:
                    to_version_4(conn)
                if version < 6:
                    to_version_6(conn)
                to_version_8(conn)
                to_version_9(conn)
            for statement in (*TABLES, *INDEXES_AND_TRIGGERS):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.Error:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
