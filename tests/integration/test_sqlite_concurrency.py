"""SqliteRunStore when another connection holds the lock too long.

The races themselves (processes claiming at once, limits held under contention) are the
store race contract, run on SQLite and DynamoDB alike: ``tests/contract/test_store_race_contract.py``.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.errors import BackendUnavailable
from tests.contract.test_store_race_contract import seed

pytestmark = pytest.mark.integration


def test_a_lock_held_past_the_busy_timeout_is_backend_unavailable(tmp_path: Path) -> None:
    # GIVEN another connection holding the write lock
    path = tmp_path / "launchq.db"
    store = SqliteRunStore(path)
    seed(store, max_jobs=-1, runs=1)
    impatient = SqliteRunStore(path, busy_timeout=0.2)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        # WHEN a claim has to wait longer than its busy timeout  THEN BackendUnavailable
        now = datetime.now(UTC)
        with pytest.raises(BackendUnavailable, match="locked"):
            impatient.claim("gpu", now, now + timedelta(minutes=5))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    # AND once the lock is released the same store works again
    assert impatient.claim("gpu", now, now + timedelta(minutes=5)) is not None
    impatient.close()
    store.close()
