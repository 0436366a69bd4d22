"""A SQLite store moves a run from the row its own last write left (``sqlite_rows.RecentRows``).

In a run's usual life one dispatcher claims it, submits it and ends it, so a move need not
read the run first: it is issued on the remembered row, conditional on its seq, version
and lease. These tests drive what makes the remembered row wrong — another store on the
same file (another process) renewing the lease, moving the run, or requeueing and
claiming it again — and check that the move then reads the run and does what a move on a
fresh read does: applies to the run as it stands, or refuses with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.adapters.stores.sqlite_rows import RecentRows
from launchq.domain.models import RunUpdate
from launchq.domain.states import RunState as S
from launchq.errors import StaleWrite
from tests.contract.conftest import build_queue
from tests.unit.test_sqlite_moves import _claimed

T0 = datetime(2030, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(seconds=1)
T2 = T0 + timedelta(seconds=2)
LEASE = T0 + timedelta(minutes=5)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SqliteRunStore, SqliteRunStore]]:
    """Two stores on one file, as two dispatcher processes have."""
    mine, other = SqliteRunStore(tmp_path / "launchq.db"), SqliteRunStore(tmp_path / "launchq.db")
    mine.create_queue(build_queue("gpu", max_jobs=2))
    yield mine, other
    mine.close()
    other.close()


def _moves(store: SqliteRunStore, run_id: str) -> list[tuple[S | None, S, str]]:
    return [(event.from_state, event.to_state, event.reason) for event in store.events(run_id)]


def test_a_claimers_next_move_reads_nothing(stores: tuple[SqliteRunStore, SqliteRunStore]) -> None:
    # GIVEN a run this store claimed, and every statement its connection runs from now on
    mine, _ = stores
    run = _claimed(mine)
    statements: list[str] = []
    mine._conn().set_trace_callback(statements.append)
    # WHEN it submits and ends the run
    started = mine.transition(run.id, S.CLAIMED, S.STARTING, "submitted", T1, RunUpdate(clear_lease=True))
    ended = mine.transition(run.id, S.STARTING, S.FINISHED, "exit 0", T2, RunUpdate(exit_code=0))
    mine._conn().set_trace_callback(None)
    # THEN each move was one UPDATE, no read, and handed back the run as stored
    assert statements
    assert all(sql.startswith("UPDATE runs SET state = ") for sql in statements), statements
    assert (started.version, ended.version) == (run.version + 1, run.version + 2)
    assert ended == mine.get_run(run.id)


def test_a_lease_renewed_elsewhere_is_read_and_the_move_applies(
    stores: tuple[SqliteRunStore, SqliteRunStore],
) -> None:
    # GIVEN a run this store claimed, whose lease another process renewed since
    mine, other = stores
    run = _claimed(mine)
    other.renew_lease(run.id, run.version, LEASE + timedelta(minutes=5))
    # WHEN this store submits it
    started = mine.transition(run.id, S.CLAIMED, S.STARTING, "submitted", T1, RunUpdate(clear_lease=True))
    # THEN the move applied to the run as it stood, once
    assert started == other.get_run(run.id)
    assert started.lease_expires_at is None
    assert _moves(other, run.id)[-1] == (S.CLAIMED, S.STARTING, "submitted")
    assert len(_moves(other, run.id)) == 3


def test_a_run_moved_elsewhere_is_refused_with_its_state_and_nothing_is_written(
    stores: tuple[SqliteRunStore, SqliteRunStore],
) -> None:
    # GIVEN a run this store claimed, which another process already submitted
    mine, other = stores
    run = _claimed(mine)
    other.transition(run.id, S.CLAIMED, S.STARTING, "submitted elsewhere", T1)
    before = other.get_run(run.id)
    # WHEN this store tries the same move
    with pytest.raises(StaleWrite, match=f"run {run.id} is starting, not claimed"):
        mine.transition(run.id, S.CLAIMED, S.STARTING, "submitted", T1)
    # THEN the run is as the other left it, with no second event
    assert other.get_run(run.id) == before
    assert [reason for *_, reason in _moves(other, run.id)].count("submitted") == 0


def test_a_run_requeued_and_claimed_again_elsewhere_moves_from_its_current_version(
    stores: tuple[SqliteRunStore, SqliteRunStore],
) -> None:
    # GIVEN a run this store claimed (version 2), put back in line and claimed again by
    # another process: claimed again, at a later version
    mine, other = stores
    run = _claimed(mine)
    other.transition(run.id, S.CLAIMED, S.QUEUED, "lease expired", T1, RunUpdate(clear_lease=True))
    again = other.claim("gpu", T1, LEASE)
    assert again is not None
    assert (again.state, again.version) == (S.CLAIMED, run.version + 2)
    # WHEN this store names the version it claimed
    with pytest.raises(StaleWrite, match=f"run {run.id} is at version {again.version}, not {run.version}"):
        mine.transition(run.id, S.CLAIMED, S.STARTING, "submitted", T2, expected_version=run.version)
    # THEN it is refused; and a move that names no version applies to the run as it stands
    moved = mine.transition(run.id, S.CLAIMED, S.STARTING, "submitted", T2)
    assert moved.version == again.version + 1
    assert moved.claimed_at == T1
    assert moved == other.get_run(run.id)


def test_the_remembered_rows_are_bounded_and_taken_once() -> None:
    # GIVEN room for two rows
    recent = RecentRows(size=2)
    for run_id in ("a", "b", "c"):
        recent.put(run_id, [run_id])
    # WHEN the rows are taken
    taken = [recent.take(run_id) for run_id in ("a", "b", "c", "c")]
    # THEN the least recently written was dropped, and a row is handed out once
    assert taken == [None, ["b"], ["c"], None]
