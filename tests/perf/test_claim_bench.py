"""Benchmarks (``make bench``): claim cost must not grow with queue depth (O(log n))."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.domain.models import Queue, Run, RunSpec, RunUpdate
from launchq.domain.priority import Priority
from launchq.domain.states import RunState


def _store(path: Path, depth: int) -> SqliteRunStore:
    store = SqliteRunStore(path)
    now = datetime.now(UTC)
    store.create_queue(Queue(name="q", resource="local-process", max_jobs=-1, created_at=now))
    for i in range(depth):
        priority = Priority(i % 4)
        spec = RunSpec(entry_point=["true"], priority=priority)
        store.add_run(
            Run(
                id=uuid.uuid4().hex,
                queue="q",
                entity="e",
                spec=spec,
                priority=priority,
                created_at=now,
                updated_at=now,
            )
        )
    return store


@pytest.mark.parametrize("depth", [100, 10_000])
def test_claim_then_release(benchmark: pytest.FixtureRequest, tmp_path: Path, depth: int) -> None:
    store = _store(tmp_path / "b.db", depth)
    now = datetime.now(UTC)

    def claim_and_requeue() -> None:
        run = store.claim("q", now, now + timedelta(minutes=5))
        assert run is not None
        store.transition(run.id, RunState.CLAIMED, RunState.QUEUED, "bench", now, RunUpdate(clear_lease=True))

    benchmark(claim_and_requeue)  # type: ignore[operator]
