"""SqliteRunStore under real contention: several OS processes claiming from one file."""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.domain.models import Queue, Run, RunSpec
from launchq.domain.states import RunState
from launchq.errors import BackendUnavailable
from tests.helpers import race

pytestmark = pytest.mark.integration

PROCESSES = 4

# Each claimer opens its own store, says "ready", waits for "go" on stdin (so all four
# start together), claims until None (pausing briefly after each claim, as a dispatcher
# would while it submits), then prints the ids it got as JSON.
CLAIMER = """
import json, sys, time
from datetime import UTC, datetime, timedelta
from launchq.adapters.stores.sqlite import SqliteRunStore

store = SqliteRunStore(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
got = []
while True:
    now = datetime.now(UTC)
    run = store.claim(sys.argv[2], now, now + timedelta(minutes=5))
    if run is None:
        break
    got.append(run.id)
    time.sleep(0.001)
print(json.dumps(got), flush=True)
"""


def _seed(path: Path, max_jobs: int, runs: int) -> tuple[SqliteRunStore, set[str]]:
    store = SqliteRunStore(path)
    now = datetime.now(UTC)
    store.create_queue(Queue(name="gpu", resource="local-process", max_jobs=max_jobs, created_at=now))
    ids: set[str] = set()
    for _ in range(runs):
        run = Run(
            id=uuid4().hex,
            queue="gpu",
            entity="local",
            spec=RunSpec(docker_image="python:3.11"),
            created_at=now,
            updated_at=now,
        )
        stored, _ = store.add_run(run)
        ids.add(stored.id)
    return store, ids


def _claim_in_processes(path: Path) -> list[list[str]]:
    """Run PROCESSES claimers against ``path`` at once; return the ids each one claimed."""
    argv = [sys.executable, "-c", CLAIMER, str(path), "gpu"]
    return [json.loads(out) for out in race([argv] * PROCESSES, timeout=120)]


def test_four_processes_claim_every_run_exactly_once(tmp_path: Path) -> None:
    # GIVEN 400 queued runs on an unlimited queue in one SQLite file
    store, ids = _seed(tmp_path / "launchq.db", max_jobs=-1, runs=400)
    # WHEN four processes claim until the queue is empty
    results = _claim_in_processes(tmp_path / "launchq.db")
    # THEN no run was claimed twice, every run was claimed, and every process got some
    claimed = [run_id for got in results for run_id in got]
    assert len(claimed) == len(set(claimed)), "a run was claimed by two processes"
    assert set(claimed) == ids
    assert all(got for got in results), [len(got) for got in results]
    assert store.count_active("gpu") == 400
    assert store.list_runs(queue="gpu", states=[RunState.QUEUED]) == []
    assert all(len(store.events(run_id)) == 2 for run_id in claimed)


def test_four_processes_never_exceed_max_jobs(tmp_path: Path) -> None:
    # GIVEN a queue limited to 3 concurrent runs with 40 waiting
    store, _ = _seed(tmp_path / "launchq.db", max_jobs=3, runs=40)
    # WHEN four processes claim (and never finish anything)
    results = _claim_in_processes(tmp_path / "launchq.db")
    # THEN exactly three runs were handed out in total
    assert sum(len(got) for got in results) == 3
    assert len(store.list_runs(queue="gpu", states=[RunState.CLAIMED])) == 3
    assert len(store.list_runs(queue="gpu", states=[RunState.QUEUED])) == 37


def test_a_lock_held_past_the_busy_timeout_is_backend_unavailable(tmp_path: Path) -> None:
    # GIVEN another connection holding the write lock
    path = tmp_path / "launchq.db"
    store, _ = _seed(path, max_jobs=-1, runs=1)
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
