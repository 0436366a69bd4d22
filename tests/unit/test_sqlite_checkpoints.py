"""The SQLite store checkpoints its WAL from a thread of its own, after writes only
(``sqlite_checkpoints``); its connections keep SQLite's own checkpoint as a backstop."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.adapters.stores.sqlite_checkpoints import BACKSTOP_PAGES, BATCH_SECONDS, RESTART_FRAMES
from tests.contract.conftest import build_queue, build_run


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteRunStore]:
    opened = SqliteRunStore(tmp_path / "launchq.db")
    yield opened
    opened.close()


def checkpointed_after(store: SqliteRunStore, before: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if store.checkpoints.checkpoints > before:
            return True
        time.sleep(0.01)
    return False


def test_the_store_connections_keep_sqlites_own_checkpoint_only_as_a_backstop(store: SqliteRunStore) -> None:
    (pages,) = store._conn().execute("PRAGMA wal_autocheckpoint").fetchone()
    assert pages == BACKSTOP_PAGES


def test_writes_are_checkpointed_by_the_stores_thread(store: SqliteRunStore) -> None:
    # GIVEN a store (its schema's pages already copied into the database file)
    store.create_queue(build_queue("gpu"))
    assert checkpointed_after(store, 0)
    time.sleep(3 * BATCH_SECONDS)
    before, size = store.checkpoints.checkpoints, store.path.stat().st_size
    # WHEN it writes runs (far fewer pages than the writers' own backstop)
    for _ in range(200):
        store.add_run(build_run("gpu"))
    # THEN its thread copies them into the database file, which only a checkpoint writes
    assert checkpointed_after(store, before)
    deadline = time.monotonic() + 10
    while store.path.stat().st_size == size and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.path.stat().st_size > size


def test_an_idle_store_runs_no_checkpoint_and_reads_wake_nothing(store: SqliteRunStore) -> None:
    # GIVEN a store whose writes have been checkpointed
    store.create_queue(build_queue("gpu"))
    run, _ = store.add_run(build_run("gpu"))
    assert checkpointed_after(store, 0)
    time.sleep(5 * BATCH_SECONDS)
    settled = store.checkpoints.checkpoints
    # WHEN it only reads for a while
    for _ in range(20):
        store.get_run(run.id)
        store.list_runs(queue="gpu")
    time.sleep(10 * BATCH_SECONDS)
    # THEN no checkpoint ran
    assert store.checkpoints.checkpoints == settled


def test_close_stops_the_thread(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "closing.db")
    store.create_queue(build_queue("gpu"))
    assert checkpointed_after(store, 0)
    mine = store.checkpoints._thread
    assert mine is not None
    assert mine.is_alive()
    store.close()
    assert not mine.is_alive()


def _child_writes(results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = _INHERITED[0]
    before = store.checkpoints.checkpoints  # the parent's count, copied by the fork
    store.add_run(build_run("gpu"))
    results.put(checkpointed_after(store, before))


_INHERITED: list[SqliteRunStore] = []


def test_a_forked_child_checkpoints_its_own_writes(tmp_path: Path) -> None:
    # GIVEN a store whose thread runs in this process
    store = SqliteRunStore(tmp_path / "forked.db")
    store.create_queue(build_queue("gpu"))
    assert checkpointed_after(store, 0)
    _INHERITED[:] = [store]
    # WHEN a forked child (no thread of its own yet) writes through the store it inherited
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_child_writes, args=(results,))
    child.start()
    child.join(30)
    # THEN the child started its own thread, which checkpointed the child's write
    assert child.exitcode == 0
    assert results.get(timeout=5) is True
    store.close()


def test_a_steady_stream_of_writes_restarts_the_wal_before_the_backstop(store: SqliteRunStore) -> None:
    # GIVEN a store written to without a pause, far past the frames at which a WAL is restarted
    store.create_queue(build_queue("gpu"))
    wal = store.path.with_name(store.path.name + "-wal")
    largest = 0
    for index in range(4 * RESTART_FRAMES):
        store.add_run(build_run("gpu"))
        if index % 100 == 0:
            largest = max(largest, wal.stat().st_size)
    # THEN the thread restarted the WAL (a passive checkpoint alone never finds it all
    # copied while writes go on), so it never reached the writers' backstop
    assert store.checkpoints.restarts > 0
    assert largest < BACKSTOP_PAGES * 4096
