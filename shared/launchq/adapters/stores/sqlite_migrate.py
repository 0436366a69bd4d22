"""Older SQLite layouts brought to version 4, then 6 (``sqlite_schema``), once, when a store first
opens the file, inside the ``BEGIN IMMEDIATE`` transaction that read the version (so two
processes opening an old file at once migrate it once).

- Version 1 kept each run whole in ``body`` (columns state, priority, seq, version only)
  and the events in ``events`` keyed by run id; version 2 added the hot columns; version 3
  keyed the events by (seq, idx) in ``run_events`` and counted slots with a partial index.
- Versions 1 and 2 are first brought to version 3's layout (the columns filled from
  ``body`` with SQLite's ``json_extract``, the events renumbered by seq), then version 3 to
  version 4: ``runs`` rebuilt with ``seq`` as its rowid and the columns version 4 adds
  (preemptions from ``body``; handle, resolved, build id and image left NULL, "as in body",
  where version 3 kept them), the events copied to ``run_history`` under their new keys,
  each queue's ``active`` count computed, and the old tables, indexes and triggers dropped.

Version 5 (launch jobs) only adds the ``jobs`` table, which ``create_schema`` creates
after this module's work: nothing is rebuilt for it. Version 6 keeps a run's events in its
row (``history``): a version 4 or 5 file gains the column (empty), each of its event rows
in ``run_history`` is rewritten in place as a one-event chunk (same key, so same order;
later events go to the row and later chunks after them), and the triggers that wrote
event rows are dropped. No run is rewritten: a migrated run's events are its chunks.

Version 7 (API keys) only adds the ``api_keys`` table, created like ``jobs``; a version 6
file is not otherwise touched.

Version 8 counts a queue's slots from the partial index ``runs_holding`` instead of the
``queues.active`` column its triggers kept: ``to_version_8`` drops the triggers, and the
index, created afterwards like every index, is filled from the runs as they stand.

Version 9 keeps where a run stands (waiting in its queue's line, holding a slot, neither)
in a ``line`` column with one partial index over it, in place of the partial indexes
``runs_queued`` and ``runs_holding`` over ``state``: ``to_version_9`` adds the column,
sets it from each run's state and drops the two indexes; ``runs_in_line``, created
afterwards, is filled from the column.

Older code must not write a migrated file (it looks for tables that are gone); the README
says to back the file up before upgrading.
"""

from __future__ import annotations

import sqlite3

from launchq.adapters.stores.sqlite_schema import ACTIVE_SQL, EVENT_BITS, LINE_OF_STATE, RUNS_TABLE

#: Version 2's columns on top of version 1's (filled from ``body`` by the same names).
V2_COLUMNS = {
    "reason": "TEXT",
    "updated_at": "TEXT",
    "claimed_at": "TEXT",
    "lease_expires_at": "TEXT",
    "started_at": "TEXT",
    "finished_at": "TEXT",
    "exit_code": "INTEGER",
}

_OLD_TRIGGERS_AND_INDEXES = (
    "DROP TRIGGER IF EXISTS runs_enqueued",
    "DROP TRIGGER IF EXISTS runs_moved",
    "DROP INDEX IF EXISTS runs_line",
    "DROP INDEX IF EXISTS runs_queued",
    "DROP INDEX IF EXISTS runs_active",
    "DROP INDEX IF EXISTS runs_queue_seq",
    "DROP INDEX IF EXISTS runs_idempotency",
)

_V3_EVENTS = """
    CREATE TABLE IF NOT EXISTS run_events (
        seq INTEGER NOT NULL, idx INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (seq, idx)
    ) WITHOUT ROWID
"""

_V4_COLUMNS = (
    "seq, id, queue, state, priority, version, idempotency_key, reason, updated_at, claimed_at,"
    " lease_expires_at, started_at, finished_at, exit_code, preemptions, body"
)


def to_version_4(conn: sqlite3.Connection) -> None:
    """Bring a version 1, 2 or 3 file to version 4 (the caller holds the write lock and
    creates version 4's indexes and triggers afterwards)."""
    for statement in _OLD_TRIGGERS_AND_INDEXES:
        conn.execute(statement)
    _fill_columns(conn)
    conn.execute(_V3_EVENTS)
    _renumber_events(conn)
    _rebuild_runs(conn)
    conn.execute("DROP TABLE IF EXISTS counters")


#: Version 4's event row (a ``RunEvent`` as JSON) rewritten as a chunk of version 6's
#: ``history`` text: ``,[at, from_state, to_state, reason]``.
_EVENT_AS_CHUNK = (
    "UPDATE run_history SET body = ',' || json_array(json_extract(body, '$.at'),"
    " json_extract(body, '$.from_state'), json_extract(body, '$.to_state'), json_extract(body, '$.reason'))"
    " WHERE body LIKE '{%'"
)


def to_version_6(conn: sqlite3.Connection) -> None:
    """Bring a version 4 or 5 file (or one ``to_version_4`` just rebuilt) to version 6's
    events (the caller holds the write lock and creates the new trigger afterwards)."""
    conn.execute("DROP TRIGGER IF EXISTS runs_enqueued")
    conn.execute("DROP TRIGGER IF EXISTS runs_moved")
    if "history" not in _columns(conn, "runs"):
        conn.execute("ALTER TABLE runs ADD COLUMN history TEXT NOT NULL DEFAULT ''")
    conn.execute("CREATE TABLE IF NOT EXISTS run_history (key INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    conn.execute(_EVENT_AS_CHUNK)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}


def _fill_columns(conn: sqlite3.Connection) -> None:
    """Version 1 to 2: add the hot columns and fill them from each row's ``body``."""
    runs = _columns(conn, "runs")
    missing = [name for name in V2_COLUMNS if name not in runs]
    for name in missing:
        conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {V2_COLUMNS[name]}")
    if missing:
        assignments = ", ".join(f"{name} = json_extract(body, '$.{name}')" for name in V2_COLUMNS)
        conn.execute(f"UPDATE runs SET {assignments}")  # noqa: S608 (fixed column names)
    queues = _columns(conn, "queues")
    if "max_jobs" not in queues:
        conn.execute("ALTER TABLE queues ADD COLUMN max_jobs INTEGER")
        conn.execute("UPDATE queues SET max_jobs = json_extract(body, '$.max_jobs')")
    if "active" not in queues:
        conn.execute("ALTER TABLE queues ADD COLUMN active INTEGER NOT NULL DEFAULT 0")


def _renumber_events(conn: sqlite3.Connection) -> None:
    """Versions 1 and 2: the events table keyed by run id moves to version 3's ``run_events``
    (keyed by the run's seq), numbers and order kept."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone():
        return
    conn.execute(
        "INSERT INTO run_events (seq, idx, body)"
        " SELECT runs.seq, events.idx, events.body FROM events JOIN runs ON runs.id = events.run_id"
    )
    conn.execute("DROP TABLE events")


def _rebuild_runs(conn: sqlite3.Connection) -> None:
    """Version 3 to 4: ``runs`` with seq as its rowid, the events under their version 4 keys,
    each queue's count of active runs."""
    conn.execute("ALTER TABLE runs RENAME TO runs_v3")
    conn.execute(RUNS_TABLE)
    conn.execute(
        f"INSERT INTO runs ({_V4_COLUMNS}) SELECT seq, id, queue, state, priority, version,"  # noqa: S608
        "  idempotency_key, COALESCE(reason, json_extract(body, '$.reason'), ''),"
        " COALESCE(updated_at, json_extract(body, '$.updated_at')),"
        " claimed_at, lease_expires_at, started_at, finished_at, exit_code,"
        " COALESCE(json_extract(body, '$.preemptions'), 0), body FROM runs_v3"
    )
    conn.execute("DROP TABLE runs_v3")
    conn.execute("CREATE TABLE IF NOT EXISTS run_history (key INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    conn.execute(
        f"INSERT INTO run_history (key, body) SELECT (seq << {EVENT_BITS}) + idx, body FROM run_events"  # noqa: S608
    )
    conn.execute("DROP TABLE run_events")
    conn.execute(
        "UPDATE queues SET active = (SELECT COUNT(*) FROM runs"  # noqa: S608 (constant)
        f" WHERE runs.queue = queues.name AND runs.state IN {ACTIVE_SQL})"
    )


def to_version_8(conn: sqlite3.Connection) -> None:
    """Bring a version 4 to 7 file to version 8's slot count: the triggers that kept
    ``queues.active`` are dropped (the caller then creates the partial index ``runs_holding``,
    which SQLite fills from the runs' states, so the claimed and running runs of the old file
    hold their slots at once). ``queues.active`` stays, unread."""
    conn.execute("DROP TRIGGER IF EXISTS runs_slots")
    conn.execute("DROP TRIGGER IF EXISTS runs_enqueued_active")


def to_version_9(conn: sqlite3.Connection) -> None:
    """Bring a version 4 to 8 file (or one the steps above just brought to 8) to version 9's
    ``line``: the column added where missing and set from each run's state, and version 8's
    two indexes over ``state`` dropped (the caller then creates ``runs_in_line``)."""
    if "line" not in _columns(conn, "runs"):
        conn.execute("ALTER TABLE runs ADD COLUMN line INTEGER")
    conn.execute(f"UPDATE runs SET line = {LINE_OF_STATE}")  # noqa: S608 (constant)
    conn.execute("DROP INDEX IF EXISTS runs_queued")
    conn.execute("DROP INDEX IF EXISTS runs_holding")
