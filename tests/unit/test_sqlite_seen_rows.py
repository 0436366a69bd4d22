"""The SQLite store moves a run it has just seen without reading it first (``SeenRows``),
and never hands back a row that is not the row stored, whoever changed it meanwhile."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.adapters.stores.sqlite_rows import PARSED, SeenRows
from launchq.domain.models import Run, RunUpdate
from launchq.domain.states import RunState as S
from launchq.errors import StaleWrite
from tests.contract.conftest import build_queue, build_run
from tests.unit.test_sqlite_moves import LEASE, T0, T1


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SqliteRunStore, SqliteRunStore]]:
    """Two stores on one file, as two processes have."""
    mine, other = SqliteRunStore(tmp_path / "launchq.db"), SqliteRunStore(tmp_path / "launchq.db")
    mine.create_queue(build_queue("gpu"))
    yield mine, other
    mine.close()
    other.close()


def claimed_run(store: SqliteRunStore) -> Run:
    store.add_run(build_run("gpu"))
    claimed = store.claim("gpu", T0, LEASE)
    assert claimed is not None
    return claimed


def statements(store: SqliteRunStore) -> list[str]:
    """The statements this thread's connection to ``store`` runs from now on (the kind of
    each: SQLite reports a statement whose row fires a trigger once per step, so a
    repeat of the same text in a row is one statement)."""
    seen: list[str] = []

    def record(sql: str) -> None:
        if not seen or seen[-1] != sql:
            seen.append(sql)

    store._conn().set_trace_callback(record)
    return seen


def kinds(ran: list[str]) -> list[str]:
    return [sql.split()[0] for sql in ran]


def test_a_run_the_store_just_claimed_moves_in_one_statement(
    stores: tuple[SqliteRunStore, SqliteRunStore],
) -> None:
    mine, _ = stores
    claimed = claimed_run(mine)
    ran = statements(mine)
    moved = mine.transition(
        claimed.id, S.CLAIMED, S.STARTING, "submitted", T1, expected_version=claimed.version
    )
    assert kinds(ran) == ["UPDATE"]
    assert moved == mine.get_run(claimed.id)
    # and the next move of the run it handed back, too
    ran.clear()
    mine.transition(claimed.id, S.STARTING, S.FINISHED, "exit 0", T1, RunUpdate(exit_code=0))
    assert kinds(ran) == ["UPDATE"]


def test_a_lease_renewed_by_another_process_is_in_the_run_handed_back(
    stores: tuple[SqliteRunStore, SqliteRunStore],
) -> None:
    mine, other = stores
    claimed = claimed_run(mine)
    renewed = other.renew_lease(claimed.id, claimed.version, LEASE + timedelta(minutes=5))
    ran = statements(mine)
    moved = mine.transition(claimed.id, S.CLAIMED, S.STOPPED, "stopped", T1)
    # the move as last seen changed nothing; the row was read and moved as it stands
    assert kinds(ran) == ["UPDATE", "SELECT", "UPDATE"]
    assert moved == other.get_run(claimed.id)
    assert moved.lease_expires_at == renewed.lease_expires_at


def test_a_row_rewritten_without_a_new_version_is_read_again(
    stores: tuple[SqliteRunStore, SqliteRunStore],
) -> None:
    # GIVEN a run this store claimed, whose build id other code then rewrote without a new version
    mine, other = stores
    claimed = claimed_run(mine)
    with sqlite3.connect(mine.path) as conn:
        conn.execute("UPDATE runs SET build_id = 'rewritten' WHERE id = ?", (claimed.id,))
    conn.close()
    # WHEN this store moves it
    moved = mine.transition(
        claimed.id, S.CLAIMED, S.BUILDING, "building", T1, expected_version=claimed.version
    )
    # THEN what it hands back is the row stored, rewrite included
    assert moved.build_id == "rewritten"
    assert moved == other.get_run(claimed.id)


def test_a_run_another_process_moved_is_refused_as_it_stands(
    stores: tuple[SqliteRunStore, SqliteRunStore],
) -> None:
    mine, other = stores
    claimed = claimed_run(mine)
    other.transition(claimed.id, S.CLAIMED, S.QUEUED, "lease expired", T1, RunUpdate(clear_lease=True))
    with pytest.raises(StaleWrite, match="is queued, not claimed"):
        mine.transition(claimed.id, S.CLAIMED, S.STARTING, "submitted", T1, expected_version=claimed.version)
    assert mine.get_run(claimed.id).state is S.QUEUED


def test_seen_rows_keep_the_newest_and_forget_the_least_recent() -> None:
    rows = SeenRows(size=2)
    rows.put("a", ("a1",))
    rows.put("b", ("b1",))
    rows.put("a", ("a2",))  # a is now the most recent
    rows.put("c", ("c1",))
    assert (rows.get("a"), rows.get("b"), rows.get("c")) == (("a2",), None, ("c1",))


def test_a_run_that_ended_is_forgotten_and_reads_back_whole(
    stores: tuple[SqliteRunStore, SqliteRunStore],
) -> None:
    # GIVEN a run this store claimed (its row seen, its body's parse cached)
    mine, _ = stores
    claimed = claimed_run(mine)
    row = mine._seen.get(claimed.id)
    assert row is not None
    body = str(row[-1])
    assert body in PARSED._parsed
    # WHEN it ends
    ended = mine.transition(claimed.id, S.CLAIMED, S.STOPPED, "stopped", T1)
    # THEN neither cache keeps it (what a cache keeps alive, the garbage collector walks)
    assert mine._seen.get(claimed.id) is None
    assert body not in PARSED._parsed
    # AND it reads back as it was handed out, the read through one statement
    ran = statements(mine)
    assert mine.get_run(claimed.id) == ended
    assert kinds(ran) == ["SELECT"]
