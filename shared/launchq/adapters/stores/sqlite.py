"""``SqliteRunStore``: the embedded default ``RunStore``, one SQLite file in WAL mode.

Safe from several threads (one connection per thread) and from several processes on the
same file: every write is one ``BEGIN IMMEDIATE`` transaction, so claims serialize on the
database's write lock and two claimers never get the same run. A lock held longer than
the busy timeout surfaces as ``BackendUnavailable``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Literal

from launchq.adapters.stores import common
from launchq.adapters.stores.sqlite_schema import connect, create_schema
from launchq.domain.models import Queue, Run, RunEvent, RunUpdate, Schedule
from launchq.domain.states import ACTIVE, RunState
from launchq.errors import AlreadyExists, BackendUnavailable, Conflict, NotFound, StaleWrite
from launchq.ports import RunStore

_ACTIVE_JSON = json.dumps(sorted(state.value for state in ACTIVE))
_QUEUED_JSON = json.dumps([RunState.QUEUED.value])
_BLOCKING_JSON = json.dumps(sorted(state.value for state in common.LIVE_OR_WAITING))


class SqliteRunStore(RunStore):
    """A ``RunStore`` on one SQLite file (created with its parent directory if missing)."""

    def __init__(self, path: Path | str, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            create_schema(self._conn())
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc) from exc

    def close(self) -> None:
        """Close every connection this store opened (in this process)."""
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    # -- plumbing -----------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        """This thread's connection; a forked child opens its own instead of sharing one."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            try:
                conn = connect(self.path, self.busy_timeout)
            except sqlite3.OperationalError as exc:
                raise _unavailable(exc) from exc
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _tx(self, mode: Literal["DEFERRED", "IMMEDIATE"] = "DEFERRED") -> Iterator[sqlite3.Connection]:
        """One transaction: committed on success, rolled back on any error.

        ``IMMEDIATE`` takes the write lock up front (waiting up to the busy timeout), so
        a read-then-write inside it cannot interleave with another writer.
        """
        conn = self._conn()
        try:
            conn.execute(f"BEGIN {mode}")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc) from exc

    @staticmethod
    def _queue(conn: sqlite3.Connection, name: str) -> Queue:
        row = conn.execute("SELECT body FROM queues WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"queue {name!r} does not exist", field="queue")
        return Queue.model_validate_json(row[0])

    @staticmethod
    def _run(conn: sqlite3.Connection, run_id: str) -> Run:
        row = conn.execute("SELECT body FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"run {run_id!r} does not exist", field="run")
        return Run.model_validate_json(row[0])

    @staticmethod
    def _schedule(conn: sqlite3.Connection, name: str) -> Schedule:
        row = conn.execute("SELECT body FROM schedules WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"schedule {name!r} does not exist", field="schedule")
        return Schedule.model_validate_json(row[0])

    @staticmethod
    def _count_in(conn: sqlite3.Connection, queue: str, states_json: str) -> int:
        row = conn.execute(
            "SELECT COUNT(*) FROM runs WHERE queue = ? AND state IN (SELECT value FROM json_each(?))",
            (queue, states_json),
        ).fetchone()
        return int(row[0])

    @staticmethod
    def _save_moved(conn: sqlite3.Connection, run: Run, event: RunEvent) -> None:
        """Write a run whose state/version changed, and append its event."""
        conn.execute(
            "UPDATE runs SET state = ?, priority = ?, version = ?, body = ? WHERE id = ?",
            (run.state.value, int(run.priority), run.version, run.model_dump_json(), run.id),
        )
        _append_event(conn, event)

    # -- queues -------------------------------------------------------------------------
    def create_queue(self, queue: Queue) -> None:
        try:
            with self._tx("IMMEDIATE") as conn:
                conn.execute(
                    "INSERT INTO queues (name, version, body) VALUES (?, ?, ?)",
                    (queue.name, queue.version, queue.model_dump_json()),
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
                "UPDATE queues SET version = ?, body = ? WHERE name = ? AND version = ?",
                (stored.version, stored.model_dump_json(), queue.name, queue.version),
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
        try:
            with self._tx("IMMEDIATE") as conn:
                self._queue(conn, run.queue)
                if run.idempotency_key is not None:
                    row = conn.execute(
                        "SELECT body FROM runs WHERE queue = ? AND idempotency_key = ?",
                        (run.queue, run.idempotency_key),
                    ).fetchone()
                    if row is not None:
                        return Run.model_validate_json(row[0]), False
                (seq,) = conn.execute(
                    "UPDATE counters SET value = value + 1 WHERE name = 'run_seq' RETURNING value"
                ).fetchone()
                stored, event = common.enqueued(run, int(seq))
                conn.execute(
                    "INSERT INTO runs (id, queue, state, priority, seq, version, idempotency_key, body)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        stored.id,
                        stored.queue,
                        stored.state.value,
                        int(stored.priority),
                        stored.seq,
                        stored.version,
                        stored.idempotency_key,
                        stored.model_dump_json(),
                    ),
                )
                _append_event(conn, event)
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(f"run {run.id!r} already exists", field="id") from exc
        return stored, True

    def get_run(self, run_id: str) -> Run:
        with self._tx() as conn:
            return self._run(conn, run_id)

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
                f"SELECT body FROM runs {where} ORDER BY seq DESC LIMIT ?",  # noqa: S608 (fixed clauses)
                params,
            ).fetchall()
        return [Run.model_validate_json(row[0]) for row in rows]

    def position(self, run: Run) -> int | None:
        with self._tx() as conn:
            row = conn.execute(
                "SELECT queue, state, priority, seq FROM runs WHERE id = ?", (run.id,)
            ).fetchone()
            if row is None or row[1] != RunState.QUEUED.value:
                return None
            queue, _, priority, seq = row
            (ahead,) = conn.execute(
                "SELECT COUNT(*) FROM runs WHERE queue = ? AND state = ?"
                " AND (priority < ? OR (priority = ? AND seq < ?))",
                (queue, RunState.QUEUED.value, priority, priority, seq),
            ).fetchone()
        return int(ahead) + 1

    def positions(self, runs: Iterable[Run]) -> dict[str, int]:
        wanted = {run.id: run.queue for run in runs}
        if not wanted:
            return {}
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id, place FROM ("
                " SELECT id, ROW_NUMBER() OVER (PARTITION BY queue ORDER BY priority, seq) AS place"
                " FROM runs WHERE state = ? AND queue IN (SELECT value FROM json_each(?))"
                ") WHERE id IN (SELECT value FROM json_each(?))",
                (RunState.QUEUED.value, json.dumps(sorted(set(wanted.values()))), json.dumps(sorted(wanted))),
            ).fetchall()
        return {str(run_id): int(place) for run_id, place in rows}

    def count_active(self, queue: str) -> int:
        with self._tx() as conn:
            return self._count_in(conn, queue, _ACTIVE_JSON)

    def count_queued(self, queue: str) -> int:
        with self._tx() as conn:
            return self._count_in(conn, queue, _QUEUED_JSON)

    def claim(self, queue: str, now: datetime, lease_until: datetime) -> Run | None:
        with self._tx("IMMEDIATE") as conn:
            settings = self._queue(conn, queue)
            if settings.max_jobs != -1 and not settings.has_free_slot(
                self._count_in(conn, queue, _ACTIVE_JSON)
            ):
                return None
            row = conn.execute(
                "SELECT body FROM runs WHERE queue = ? AND state = ? ORDER BY priority, seq LIMIT 1",
                (queue, RunState.QUEUED.value),
            ).fetchone()
            if row is None:
                return None
            run, event = common.claimed(Run.model_validate_json(row[0]), now, lease_until)
            self._save_moved(conn, run, event)
        return run

    def transition(
        self,
        run_id: str,
        expected: RunState,
        to: RunState,
        reason: str,
        now: datetime,
        update: RunUpdate | None = None,
    ) -> Run:
        common.ensure_allowed(expected, to)
        with self._tx("IMMEDIATE") as conn:
            run, event = common.transitioned(
                self._run(conn, run_id), expected, to, reason=reason, now=now, update=update
            )
            self._save_moved(conn, run, event)
        return run

    def events(self, run_id: str) -> list[RunEvent]:
        with self._tx() as conn:
            self._run(conn, run_id)
            rows = conn.execute("SELECT body FROM events WHERE run_id = ? ORDER BY idx", (run_id,)).fetchall()
        return [RunEvent.model_validate_json(row[0]) for row in rows]

    # -- schedules ----------------------------------------------------------------------
    def create_schedule(self, schedule: Schedule) -> None:
        try:
            with self._tx("IMMEDIATE") as conn:
                conn.execute(
                    "INSERT INTO schedules (name, body) VALUES (?, ?)",
                    (schedule.name, schedule.model_dump_json()),
                )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(f"schedule {schedule.name!r} already exists", field="name") from exc

    def get_schedule(self, name: str) -> Schedule:
        with self._tx() as conn:
            return self._schedule(conn, name)

    def list_schedules(self) -> list[Schedule]:
        with self._tx() as conn:
            rows = conn.execute("SELECT body FROM schedules ORDER BY name").fetchall()
        return [Schedule.model_validate_json(row[0]) for row in rows]

    def delete_schedule(self, name: str) -> None:
        with self._tx("IMMEDIATE") as conn:
            if conn.execute("DELETE FROM schedules WHERE name = ?", (name,)).rowcount == 0:
                raise NotFound(f"schedule {name!r} does not exist", field="schedule")

    def advance_schedule(
        self, name: str, expected_next: datetime, next_fire_at: datetime, last_run_id: str
    ) -> None:
        with self._tx("IMMEDIATE") as conn:
            schedule = self._schedule(conn, name)
            if schedule.next_fire_at != expected_next:
                raise StaleWrite(
                    f"schedule {name!r} next fires at {schedule.next_fire_at.isoformat()},"
                    f" not {expected_next.isoformat()}",
                    field="next_fire_at",
                )
            advanced = schedule.model_copy(update={"next_fire_at": next_fire_at, "last_run_id": last_run_id})
            conn.execute("UPDATE schedules SET body = ? WHERE name = ?", (advanced.model_dump_json(), name))


def _append_event(conn: sqlite3.Connection, event: RunEvent) -> None:
    conn.execute(
        "INSERT INTO events (run_id, idx, body)"
        " SELECT ?, COALESCE(MAX(idx), -1) + 1, ? FROM events WHERE run_id = ?",
        (event.run_id, event.model_dump_json(), event.run_id),
    )


def _unavailable(exc: sqlite3.OperationalError) -> BackendUnavailable:
    """Translate an SQLite operational error (locked past the busy timeout, unopenable file)."""
    message = str(exc)
    if "locked" in message or "busy" in message:
        return BackendUnavailable(f"SQLite database is locked (gave up after the busy timeout): {message}")
    return BackendUnavailable(f"SQLite database unavailable: {message}")
