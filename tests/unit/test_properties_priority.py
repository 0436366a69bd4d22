"""Property: whatever the interleaving of enqueues and claims, claims come out in strict
priority order, first in first out within a priority (issue 14).

The contract suite checks one hand-picked order; here hypothesis picks thousands, on the
in-package memory store and on SQLite (a fresh database file per example), against a model
of the line: a sorted list of (priority, order of enqueue).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from launchq.adapters.stores.memory import MemoryRunStore
from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.domain.priority import Priority
from launchq.ports import RunStore
from tests.contract.conftest import build_queue, build_run

T0 = datetime(2030, 1, 1, tzinfo=UTC)
LEASE = T0 + timedelta(minutes=5)
QUEUES = ("gpu", "cpu")

# One step: enqueue a run of this priority into this queue, or claim from this queue.
Step = tuple[str, str, Priority | None]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("enqueue"), st.sampled_from(QUEUES), st.sampled_from(list(Priority))),
        st.tuples(st.just("claim"), st.sampled_from(QUEUES), st.none()),
    ),
    max_size=40,
)


@contextmanager
def memory_store() -> Iterator[RunStore]:
    yield MemoryRunStore()


@contextmanager
def sqlite_store() -> Iterator[RunStore]:
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteRunStore(Path(folder) / "launchq.db")
        try:
            yield store
        finally:
            store.close()


def run_steps(store: RunStore, plan: list[Step]) -> list[tuple[str | None, str | None]]:
    """Play ``plan`` on ``store`` and on the model; each claim's (got, expected) run name."""
    for queue in QUEUES:
        store.create_queue(build_queue(queue))
    line: dict[str, list[tuple[int, int, str]]] = {queue: [] for queue in QUEUES}
    outcomes: list[tuple[str | None, str | None]] = []
    for index, (action, queue, priority) in enumerate(plan):
        if action == "enqueue" and priority is not None:
            name = f"{queue}-{index}-{priority.name.lower()}"
            store.add_run(build_run(queue, priority, name=name))
            line[queue].append((int(priority), index, name))
            continue
        expected = min(line[queue]) if line[queue] else None
        if expected is not None:
            line[queue].remove(expected)
        claimed = store.claim(queue, T0, LEASE)
        outcomes.append((claimed.spec.name if claimed else None, expected[2] if expected else None))
    for queue in QUEUES:  # drain: what is left comes out in order too
        while line[queue]:
            expected = min(line[queue])
            line[queue].remove(expected)
            claimed = store.claim(queue, T0, LEASE)
            outcomes.append((claimed.spec.name if claimed else None, expected[2]))
        assert store.claim(queue, T0, LEASE) is None, f"{queue}: a run was claimed twice or invented"
    return outcomes


@pytest.mark.parametrize("make_store", [memory_store, sqlite_store], ids=["memory", "sqlite"])
@settings(max_examples=150)
@given(plan=steps)
def test_claims_follow_priority_then_fifo(
    make_store: Callable[[], AbstractContextManager[RunStore]], plan: list[Step]
) -> None:
    # GIVEN any interleaving of enqueues (random priorities, two queues) and claims
    with make_store() as store:
        # WHEN it is played on the store  THEN every claim takes the model's next run
        for got, expected in run_steps(store, plan):
            assert got == expected
