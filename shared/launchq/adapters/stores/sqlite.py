"""``SqliteRunStore``: the embedded default ``RunStore``, one SQLite file in WAL mode.

Safe from several threads (one connection per thread) and from several processes on the
same file. Every write is atomic on the database's write lock, taken before the write
reads anything: a claim or a move is one conditional ``UPDATE`` statement (an autocommit
statement takes the lock up front, as ``BEGIN IMMEDIATE`` does; a claim's condition is
that the run is the head of its line and a slot is free, a move's is the row as the store
last read or saw it, so a run moved meanwhile is read again, never overwritten), anything
longer is one ``BEGIN IMMEDIATE`` transaction. So two claimers never get the same
run, a claim never passes ``max_jobs`` (its count of the queue's busy slots is in the same
statement), a move applies only to a run still in its expected state (and version, when
the caller names one), and the event of each insert and move is written in the same
statement (the run's ``history``, ``sqlite_schema``). A lock held longer than the busy timeout surfaces as
``BackendUnavailable``.

Why it is shaped so (cProfile over 10,000 no-op lives, and the pages each statement writes
to the WAL): a life went mostly to a deep copy and a full pydantic parse and
re-serialisation of the run per move, then to the WAL frames of the pages it touched. Now
a move writes only the columns that change (every field a move sets is one), never
re-serialises the run, reuses the parse of the unchanged ``body`` (``sqlite_rows``) and
hands out a cheap copy. The PRAGMAs and their durability are ``sqlite_schema``'s;
sqlite3's statement cache (128 per connection) holds every statement used here.

Counted with callgrind (user-space instructions per life, deterministic where wall time on
a shared machine is not; the bare loop of ``tests/perf/store_bench`` is 0.14 M a turn):
1.64 M in schema 7, the ``runs_slots`` trigger and ``RETURNING`` (a temporary b-tree per
statement) its largest SQL parts. Schema 8 counts slots from a partial index inside the
claim (``sqlite_schema``), written without ``state IN (...)``, whose list SQLite builds as
a temporary b-tree at each evaluation; a move reads the row, then
applies an ``UPDATE`` conditional on the version and lease read (``sqlite_rows.MOVE_WHERE``):
if anything moved the run in between, it changes nothing and the move reads again, so the
row handed back is exactly the row written. The insert reads its seq from ``lastrowid``.
1.28 M per life.

A run this store has just handed out (claimed, moved, read) is moved without the read:
``SeenRows`` keeps the last row seen of each run, and the move's ``UPDATE`` is conditional
on every column being as seen (``SEEN_WHERE``), so a life is five statements, not seven
(two reads and their locks fewer). If anything changed the row meanwhile, the ``UPDATE``
changes nothing and the move reads the row as above.

Schema 9 (``sqlite_schema``): a move between active states writes no index page, and a
claim is one ``UPDATE ... RETURNING`` of the head of the line when a slot is free
(``CLAIM_WHERE``): it does not know its row beforehand, and the statement's temporary
b-tree costs less than a read of the head before it. With runs that ended dropped from
the caches and lighter conversions (``sqlite_rows``, ``sqlite_copies``): 1.00 M per life.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from launchq.adapters.stores import common
from launchq.adapters.stores.sqlite_connections import SqliteConnections, _unavailable
from launchq.adapters.stores.sqlite_copies import shallow
from launchq.adapters.stores.sqlite_jobs import SqliteJobs
from launchq.adapters.stores.sqlite_keys import SqliteKeys
from launchq.adapters.stores.sqlite_rows import (
    CLAIM_WHERE,
    COUNT_QUEUED,
    HOLDING_COUNT,
    INSERT_RUN,
    MOVE_WHERE,
    PARSED,
    READ_COLUMNS,
    READ_INDEX,
    SEEN_WHERE,
    SeenRows,
    detached,
    event_text,
    handed_out,
    history_events,
    insert_values,
    move_sql,
    move_values,
    moved_row,
    stored_run,
)
from launchq.adapters.stores.sqlite_schedules import SqliteSchedules
from launchq.adapters.stores.sqlite_schema import CHUNKS_PER_RUN, EVENT_BITS, WAITING
from launchq.domain.models import Queue, Run, RunEvent, RunUpdate
from launchq.domain.states import TERMINAL, RunState
from launchq.errors import AlreadyExists, Conflict, NotFound, StaleWrite
from launchq.ports import LogTail, RunStore

__all__ = ["SqliteRunStore", "_unavailable"]  # _unavailable: where it was before the split

_BLOCKING_JSON = json.dumps(sorted(state.value for state in common.LIVE_OR_WAITING))
_SELECT_RUN = f"SELECT {READ_COLUMNS} FROM runs WHERE id = ?"  # noqa: S608 (fixed columns)
_CLAIM_COLUMNS = ("claimed_at", "lease_expires_at")
_QUEUED, _CLAIMED = RunState.QUEUED.value, RunState.CLAIMED.value
_CLAIM = (
    f"{move_sql(_CLAIM_COLUMNS, CLAIM_WHERE, RunState.QUEUED, RunState.CLAIMED)} RETURNING {READ_COLUMNS}"
)
_RENEW = (
    f"UPDATE runs SET lease_expires_at = ? WHERE id = ? AND version = ?"  # noqa: S608 (constants)
    f" AND state IN {tuple(sorted(state.value for state in common.LEASE_STATES))} RETURNING {READ_COLUMNS}"
)
_AHEAD = (
    f"SELECT (SELECT COUNT(*) FROM runs WHERE queue = ?1 AND line = {WAITING} AND priority < ?2)"  # noqa: S608
    f" + (SELECT COUNT(*) FROM runs WHERE queue = ?1 AND line = {WAITING} AND priority = ?2 AND seq < ?3)"
)
_PLACES = (
    "SELECT id, place FROM ("  # noqa: S608 (constants)
    " SELECT id, ROW_NUMBER() OVER (PARTITION BY queue ORDER BY priority, seq) AS place"
    f" FROM runs WHERE line = {WAITING} AND queue IN (SELECT value FROM json_each(?))"
    ") WHERE id IN (SELECT value FROM json_each(?))"
)
_HISTORY = (
    f"SELECT body FROM run_history WHERE key BETWEEN ?1 << {EVENT_BITS}"  # noqa: S608 (constants)
    f" AND (?1 << {EVENT_BITS}) + {CHUNKS_PER_RUN - 1} ORDER BY key"
)


class SqliteRunStore(SqliteJobs, SqliteKeys, SqliteSchedules, SqliteConnections, RunStore):
    """A ``RunStore`` on one SQLite file (created with its parent directory if missing)."""

    def __init__(self, path: Path | str, busy_timeout: float = 30.0) -> None:
        super().__init__(path, busy_timeout)
        self._seen = SeenRows()

    def _handed(self, row: Sequence[Any]) -> Run:
        """The run ``row`` holds, handed out; the row remembered as this store's last sight of
        it, but for a run that ended: its row and its parse are forgotten (``_forget``)."""
        run = handed_out(row)
        if run.state in TERMINAL:
            self._forget(run.id, row)
        else:
            self._seen.put(run.id, row)
        return run

    def _forget(self, run_id: str, row: Sequence[Any]) -> None:
        """Drop an ended run from the caches: it is rarely moved or read again (either reads
        it anew), and what a cache keeps alive is what the garbage collector walks."""
        self._seen.drop(run_id)
        PARSED.drop(row[-1])

    @staticmethod
    def _queue(conn: sqlite3.Connection, name: str) -> Queue:
        row = conn.execute("SELECT body FROM queues WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"queue {name!r} does not exist", field="queue")
        return Queue.model_validate_json(row[0])

    @staticmethod
    def _run(conn: sqlite3.Connection, run_id: str) -> Run:
        row = conn.execute(_SELECT_RUN, (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"run {run_id!r} does not exist", field="run")
        return stored_run(row)

    @staticmethod
    def _count_in(conn: sqlite3.Connection, queue: str, states_json: str) -> int:
        row = conn.execute(
            "SELECT COUNT(*) FROM runs WHERE queue = ? AND state IN (SELECT value FROM json_each(?))",
            (queue, states_json),
        ).fetchone()
        return int(row[0])

    # -- queues -------------------------------------------------------------------------
    def create_queue(self, queue: Queue) -> None:
        try:
            with self._tx("IMMEDIATE") as conn:
                conn.execute(
                    "INSERT INTO queues (name, version, body, max_jobs) VALUES (?, ?, ?, ?)",
                    (queue.name, queue.version, queue.model_dump_json(), queue.max_jobs),
                )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(f"queue {queue.name!r} already exists", field="name") from exc

    def get_queue(self, name: str) -> Queue:
        with self._tx() as conn:
            return self._queue(conn, name)

    def list_queues(self) -> list[Queue]:
        with self._tx() as conn:
            rows = conn.execute("SELECT body FROM queues ORDER BY name").fetchall()
        return [Queue.model_validate_json(row[0]) for row in rows]

    def update_queue(self, queue: Queue) -> Queue:
        stored = queue.model_copy(update={"version": queue.version + 1}, deep=True)
        with self._tx("IMMEDIATE") as conn:
            cursor = conn.execute(
                "UPDATE queues SET version = ?, body = ?, max_jobs = ? WHERE name = ? AND version = ?",
                (stored.version, stored.model_dump_json(), stored.max_jobs, queue.name, queue.version),
            )
            if cursor.rowcount == 0:
                current = self._queue(conn, queue.name)
                raise StaleWrite(
                    f"queue {queue.name!r} is at version {current.version}, not {queue.version}",
                    field="version",
                )
        return stored

    def delete_queue(self, name: str) -> None:
        with self._tx("IMMEDIATE") as conn:
            self._queue(conn, name)
            blocking = self._count_in(conn, name, _BLOCKING_JSON)
            if blocking:
                raise Conflict(f"queue {name!r} still holds {blocking} queued or active runs", field="name")
            conn.execute("DELETE FROM queues WHERE name = ?", (name,))

    # -- runs ---------------------------------------------------------------------------
    def add_run(self, run: Run) -> tuple[Run, bool]:
        # The row is what is kept (the caller's values are copied for the cache): a run as
        # enqueued (queued, no seq yet), the caller's own object when it is one already.
        queued = run.state is RunState.QUEUED and run.seq == 0
        stored = run if queued else run.model_copy(update={"seq": 0, "state": RunState.QUEUED})
        body = stored.model_dump_json()
        try:
            seq = self._insert(INSERT_RUN, (*insert_values(stored, body), run.queue))
        except sqlite3.IntegrityError as exc:
            existing = self._idempotent(run)
            if existing is None:
                raise AlreadyExists(f"run {run.id!r} already exists", field="id") from exc
            return existing, False
        if seq is None:
            raise NotFound(f"queue {run.queue!r} does not exist", field="queue")
        PARSED.put(body, detached(stored))
        return shallow(stored, {"seq": seq}), True

    def _idempotent(self, run: Run) -> Run | None:
        """The run already enqueued on ``run``'s queue with its idempotency key, if any."""
        if run.idempotency_key is None:
            return None
        with self._tx() as conn:
            row = conn.execute(
                f"SELECT {READ_COLUMNS} FROM runs WHERE queue = ? AND idempotency_key = ?",  # noqa: S608
                (run.queue, run.idempotency_key),
            ).fetchone()
        return None if row is None else handed_out(row)

    def get_run(self, run_id: str) -> Run:
        row = self._read(_SELECT_RUN, (run_id,))
        if row is None:
            raise NotFound(f"run {run_id!r} does not exist", field="run")
        self._seen.put(run_id, row)
        return handed_out(row)

    def list_runs(
        self,
        queue: str | None = None,
        states: Iterable[RunState] | None = None,
        limit: int = 1000,
    ) -> list[Run]:
        clauses: list[str] = []
        params: list[object] = []
        if queue is not None:
            clauses.append("queue = ?")
            params.append(queue)
        if states is not None:
            clauses.append("state IN (SELECT value FROM json_each(?))")
            params.append(json.dumps([RunState(state).value for state in states]))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        params.append(limit)
        with self._tx() as conn:
            rows = conn.execute(
                f"SELECT {READ_COLUMNS} FROM runs {where} ORDER BY seq DESC LIMIT ?",  # noqa: S608 (fixed clauses)
                params,
            ).fetchall()
        return [handed_out(row) for row in rows]

    def position(self, run: Run) -> int | None:
        with self._tx() as conn:
            row = conn.execute(
                "SELECT queue, state, priority, seq FROM runs WHERE id = ?", (run.id,)
            ).fetchone()
            if row is None or row[1] != RunState.QUEUED.value:
                return None
            queue, _, priority, seq = row
            # Two range counts on the covering partial index runs_in_line: with one OR'ed
            # clause SQLite walks runs_queue_seq and reads every run of the queue instead.
            (ahead,) = conn.execute(_AHEAD, (queue, priority, seq)).fetchone()
        return int(ahead) + 1

    def positions(self, runs: Iterable[Run]) -> dict[str, int]:
        wanted = {run.id: run.queue for run in runs}
        if not wanted:
            return {}
        with self._tx() as conn:
            rows = conn.execute(
                _PLACES,
                (json.dumps(sorted(set(wanted.values()))), json.dumps(sorted(wanted))),
            ).fetchall()
        return {str(run_id): int(place) for run_id, place in rows}

    def count_active(self, queue: str) -> int:
        # A count of the queue's HOLDING entries of the index runs_in_line (sqlite_schema).
        with self._tx() as conn:
            (count,) = conn.execute(HOLDING_COUNT, (queue,)).fetchone()
        return int(count)

    def count_queued(self, queue: str) -> int:
        with self._tx() as conn:
            (count,) = conn.execute(COUNT_QUEUED, (queue,)).fetchone()
        return int(count)

    def claim(
        self, queue: str, now: datetime, lease_until: datetime, claimer: str = "dispatcher"
    ) -> Run | None:
        at, lease = now.isoformat(), lease_until.isoformat()
        reason = common.claimed_reason(claimer)
        event = event_text(at, _QUEUED, _CLAIMED, reason)
        # the head of the line, if a slot is free: one statement (``CLAIM_WHERE``)
        row = self._write(_CLAIM, (_CLAIMED, reason, at, at, lease, event, queue, queue))
        if row is not None:
            return self._handed(row)
        with self._tx() as conn:
            self._queue(conn, queue)  # NotFound for a queue that does not exist
        return None

    def transition(
        self,
        run_id: str,
        expected: RunState,
        to: RunState,
        reason: str,
        now: datetime,
        update: RunUpdate | None = None,
        expected_version: int | None = None,
    ) -> Run:
        common.ensure_allowed(expected, to)
        at = now.isoformat()
        columns, values = move_values(common.update_changes(update, shared=True), now, at)
        was, becomes = expected.value, to.value  # each ``.value`` is a property call
        params = (becomes, reason, at, *values, event_text(at, was, becomes, reason))
        # a run as this store last saw it: one conditional UPDATE, no read (``SeenRows``)
        seen = self._seen.get(run_id)
        if (
            seen is not None
            and seen[0] == was
            and expected_version in (None, seen[3])
            and self._changed(move_sql(columns, SEEN_WHERE, expected, to), (*params, *seen[:-1]))
        ):
            return self._handed(moved_row(seen, becomes, reason, at, columns, values))
        sql = move_sql(columns, MOVE_WHERE, expected, to)
        while True:
            row = self._read(_SELECT_RUN, (run_id,))
            if row is None:
                raise NotFound(f"run {run_id!r} does not exist", field="run")
            if row[0] != was or (expected_version is not None and row[3] != expected_version):
                raise self._stale(stored_run(row), expected, expected_version)
            where = (row[2], row[3], row[READ_INDEX["lease_expires_at"]])
            if self._changed(sql, (*params, *where)):
                return self._handed(moved_row(row, becomes, reason, at, columns, values))
            # moved (or its lease renewed) since the read: read it again

    @staticmethod
    def _stale(current: Run, expected: RunState, expected_version: int | None) -> StaleWrite:
        """Why a conditional move does not apply to ``current``, the run as it stands."""
        if current.state is not expected:
            moved = f"run {current.id} is {current.state.value}, not {expected.value}"
            return StaleWrite(moved, field="state")
        stale = f"run {current.id} is at version {current.version}, not {expected_version}"
        return StaleWrite(stale, field="version")

    def renew_lease(self, run_id: str, version: int, lease_until: datetime) -> Run:
        row = self._write(_RENEW, (lease_until.isoformat(), run_id, version))
        if row is not None:
            return self._handed(row)
        with self._tx() as conn:
            current = self._run(conn, run_id)
        common.renewed(current, version, lease_until)  # raises the StaleWrite that says why
        raise StaleWrite(f"run {run_id} changed while its lease was renewed", field="version")

    def save_log_tail(self, run_id: str, tail: LogTail) -> None:
        row = self._write(
            "INSERT INTO run_logs (seq, text, end) SELECT seq, ?, ? FROM runs WHERE id = ?"
            " ON CONFLICT (seq) DO UPDATE SET text = excluded.text, end = excluded.end RETURNING seq",
            (tail.text, tail.end, run_id),
        )
        if row is None:
            raise NotFound(f"run {run_id!r} does not exist", field="run")

    def log_tail(self, run_id: str) -> LogTail | None:
        with self._tx() as conn:
            self._run(conn, run_id)  # NotFound for a run that does not exist
            row = conn.execute(
                "SELECT text, end FROM run_logs WHERE seq = (SELECT seq FROM runs WHERE id = ?)", (run_id,)
            ).fetchone()
        return None if row is None else LogTail(text=row[0], end=row[1])

    def events(self, run_id: str) -> list[RunEvent]:
        with self._tx() as conn:
            row = conn.execute("SELECT seq, history FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise NotFound(f"run {run_id!r} does not exist", field="run")
            chunks = conn.execute(_HISTORY, (row[0],)).fetchall()
        return history_events(run_id, "".join(body for (body,) in chunks) + row[1])
