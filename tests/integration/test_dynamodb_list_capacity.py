"""What ``GET /runs`` costs on DynamoDB for a page of queued runs, in read units as DynamoDB
Local reports them (``ReturnConsumedCapacity=TOTAL``).

A listing shows each queued run's place in line. Asked run by run, that was one read of
the run and counts of the line per run: 41 queued runs cost 91.5 read units on top of the
listing. ``positions`` reads each queue's line once (its priority partitions and the
earlier layout's entries), up to the last run asked about. The figures are exact on
purpose, as in test_dynamodb_capacity.py: a change in the calls shows up as a changed
number, to be looked at and written down again.
"""

from __future__ import annotations

import pytest

from launchq.adapters.stores.dynamodb import DynamoRunStore
from launchq.domain.models import Queue
from launchq.domain.priority import Priority
from launchq.domain.states import RunState
from tests.integration.test_dynamodb_capacity import (  # its table fixtures and run
    T0,
    a_run,
    client,  # noqa: F401
    store,  # noqa: F401
)

pytestmark = pytest.mark.integration

QUEUED = 41

# Read units: listing the 41 runs (index queries of the line's and the earlier layout's
# partitions + BatchGetItem); their places asked run by run (GET /runs before positions:
# 43 + 91.5); asked for the page at once (43 + 2: four priority partitions and the old line).
LIST_UNITS = 43.0
ONE_BY_ONE_UNITS = 91.5
PAGE_UNITS = 2.0


def test_a_page_of_queued_runs_gets_its_places_from_one_read_of_the_line(store: DynamoRunStore) -> None:  # noqa: F811
    # GIVEN 41 queued runs of mixed priorities on one queue
    store.create_queue(Queue(name="gpu", resource="local-process", max_jobs=1, created_at=T0))
    priorities = list(Priority)
    for index in range(QUEUED):
        store.add_run(a_run().model_copy(update={"priority": priorities[index % len(priorities)]}))

    # WHEN they are listed, then placed run by run, then placed as one page
    store.consumed.reset()
    page = store.list_runs(queue="gpu", states=[RunState.QUEUED])
    listed = store.consumed.read_units
    store.consumed.reset()
    one_by_one = {run.id: store.position(run) for run in page}
    by_run = store.consumed.read_units
    store.consumed.reset()
    places = store.positions(page)
    by_page = store.consumed.read_units

    # THEN both give the same places, and the page costs one read of the line
    print(f"\nlist_runs {listed:.1f}  position x{len(page)} {by_run:.1f}  positions {by_page:.1f}")
    assert len(page) == QUEUED
    assert places == one_by_one
    assert sorted(places.values()) == list(range(1, QUEUED + 1))
    assert (listed, by_run, by_page) == (LIST_UNITS, ONE_BY_ONE_UNITS, PAGE_UNITS)
