"""What only the SQLite store promises: its file, its connections and its failures.

The store is shared by the server's threads and by forked processes on one file: each
thread keeps one connection, a forked child opens its own (an SQLite connection must not
cross a fork), and a database it cannot use is ``BackendUnavailable`` with SQLite's reason.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from launchq.adapters.stores.sqlite import SqliteRunStore, _unavailable
from launchq.errors import BackendUnavailable
from tests.contract.conftest import build_queue, build_run


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteRunStore]:
    opened = SqliteRunStore(tmp_path / "launchq.db")
    yield opened
    opened.close()


def test_the_database_file_is_created_with_its_missing_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "launchq.db"
    store = SqliteRunStore(path)
    assert store.list_queues() == []
    assert path.is_file()
    store.close()


def test_a_thread_keeps_one_connection_and_another_thread_gets_its_own(store: SqliteRunStore) -> None:
    mine = store._conn()
    store.list_queues()
    assert store._conn() is mine
    theirs: list[sqlite3.Connection] = []
    worker = threading.Thread(target=lambda: theirs.extend([store._conn(), store._conn()]))
    worker.start()
    worker.join()
    assert theirs[0] is theirs[1]
    assert theirs[0] is not mine


def test_a_forked_child_opens_its_own_connection(store: SqliteRunStore) -> None:
    parent = store._conn()
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if it got a new, working connection
        code = 1
        try:
            code = 0 if store._conn() is not parent and store.list_queues() == [] else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store._conn() is parent


def test_opening_a_database_locked_past_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    # GIVEN another connection holding the write lock on the file
    path = tmp_path / "launchq.db"
    SqliteRunStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        # WHEN a store opens it  THEN BackendUnavailable saying why
        with pytest.raises(BackendUnavailable) as opening:
            SqliteRunStore(path, busy_timeout=0.05)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert opening.value.detail == (
        "SQLite database is locked (gave up after the busy timeout): database is locked"
    )


def test_a_write_that_waits_past_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "launchq.db"
    store = SqliteRunStore(path, busy_timeout=0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(BackendUnavailable) as caught:
            store.delete_schedule("nightly")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        store.close()
    assert (
        caught.value.detail
        == "SQLite database is locked (gave up after the busy timeout): database is locked"
    )


def test_a_path_that_cannot_be_opened_is_unavailable_with_sqlites_reason(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable) as caught:
        SqliteRunStore(tmp_path)  # a directory, not a database file
    assert caught.value.detail == "SQLite database unavailable: unable to open database file"


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        (
            "database is locked",
            "SQLite database is locked (gave up after the busy timeout): database is locked",
        ),
        ("database is busy", "SQLite database is locked (gave up after the busy timeout): database is busy"),
        ("disk I/O error", "SQLite database unavailable: disk I/O error"),
    ],
)
def test_sqlite_errors_become_backend_unavailable_saying_which(message: str, detail: str) -> None:
    assert _unavailable(sqlite3.OperationalError(message)).detail == detail


def test_a_closed_store_opens_a_new_connection_when_used_again(store: SqliteRunStore) -> None:
    before = store._conn()
    store.close()
    assert store.list_queues() == []
    assert store._conn() is not before


def test_listing_without_a_limit_returns_the_ports_default_of_the_newest_1000(store: SqliteRunStore) -> None:
    # GIVEN one run more than the port's default page
    store.create_queue(build_queue("gpu"))
    for index in range(1001):
        store.add_run(build_run("gpu", name=str(index)))
    # WHEN listed without a limit  THEN the newest 1000, newest first
    listed = store.list_runs()
    assert len(listed) == 1000
    assert (listed[0].spec.name, listed[-1].spec.name) == ("1000", "1")
