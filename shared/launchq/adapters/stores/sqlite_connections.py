"""The SQLite store's connections: one per thread and per process, each write's transaction.

``SqliteRunStore`` (``launchq.adapters.stores.sqlite``) builds on this. An SQLite
connection must not cross a fork or be shared by threads mid-transaction, so each thread
keeps its own and a forked child opens a new one. SQLite's operational errors (the lock
held past the busy timeout, a file it cannot open) become ``BackendUnavailable`` here.
Each write tells the store's ``Checkpointer`` (``sqlite_checkpoints``), which copies the WAL
back into the database file from a thread of its own; the connections' own automatic
checkpoint is only its backstop.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from launchq.adapters.stores.sqlite_checkpoints import BACKSTOP_PAGES, Checkpointer
from launchq.adapters.stores.sqlite_schema import connect, create_schema
from launchq.errors import BackendUnavailable


class _Process:
    """This process's id, kept current across ``fork`` without a ``getpid`` call per use."""

    pid = os.getpid()

    @classmethod
    def forked(cls) -> None:
        cls.pid = os.getpid()


os.register_at_fork(after_in_child=_Process.forked)


class SqliteConnections:
    """The connections to one SQLite file (created with its parent directory if missing)."""

    def __init__(self, path: Path | str, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self.checkpoints = Checkpointer(self.path, busy_timeout)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            create_schema(self._conn())
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc) from exc

    def close(self) -> None:
        """Close every connection this store opened (in this process), and stop its checkpoints."""
        self.checkpoints.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    # -- plumbing -----------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        """This thread's connection; a forked child opens its own instead of sharing one."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != _Process.pid:
            try:
                conn = connect(self.path, self.busy_timeout)
                conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
            except sqlite3.OperationalError as exc:
                raise _unavailable(exc) from exc
            self._local.conn, self._local.pid = conn, _Process.pid
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
        if mode == "IMMEDIATE":
            self.checkpoints.wrote(_Process.pid)

    def _write(self, sql: str, params: tuple[object, ...]) -> tuple[object, ...] | None:
        """One statement on its own (atomic: autocommit) that returns the rows it writes; its
        first returned row.

        ``fetchall`` steps the statement to its end, which is when SQLite commits it."""
        try:
            rows: list[tuple[object, ...]] = self._conn().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc) from exc
        if not rows:
            return None  # it wrote nothing (its WHERE found no row)
        self.checkpoints.wrote(_Process.pid)
        return rows[0]

    def _read(self, sql: str, params: tuple[object, ...]) -> tuple[object, ...] | None:
        """One read on its own (its own snapshot); its first row."""
        try:
            row: tuple[object, ...] | None = self._conn().execute(sql, params).fetchone()
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc) from exc
        return row

    def _changed(self, sql: str, params: tuple[object, ...]) -> bool:
        """One ``UPDATE`` on its own (atomic: autocommit, which takes the write lock before
        its ``WHERE`` reads anything); whether it changed a row."""
        try:
            changed = self._conn().execute(sql, params).rowcount == 1
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc) from exc
        if changed:
            self.checkpoints.wrote(_Process.pid)
        return changed

    def _insert(self, sql: str, params: tuple[object, ...]) -> int | None:
        """One ``INSERT`` on its own (atomic: autocommit); the rowid of the row it inserted,
        None when it inserted none (an ``INSERT ... SELECT`` whose ``SELECT`` found nothing)."""
        try:
            cursor = self._conn().execute(sql, params)
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc) from exc
        if cursor.rowcount != 1:
            return None
        self.checkpoints.wrote(_Process.pid)
        return cursor.lastrowid


def _unavailable(exc: sqlite3.OperationalError) -> BackendUnavailable:
    """Translate an SQLite operational error (locked past the busy timeout, unopenable file)."""
    message = str(exc)
    if "locked" in message or "busy" in message:
        return BackendUnavailable(f"SQLite database is locked (gave up after the busy timeout): {message}")
    return BackendUnavailable(f"SQLite database unavailable: {message}")
