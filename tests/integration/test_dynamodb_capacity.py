"""What one run's life costs on DynamoDB: as DynamoDB Local reports it, and as AWS bills it.

The figures are exact on purpose: a change to the table layout or to the calls a step
makes shows up here as a changed number, to be looked at and then written down again.
Local units are ``TOTAL`` (table plus indexes). Billed units apply AWS's published rules
(``dynamodb_billing``: 1 unit per started KB of the larger of the item before and after,
2 in a transaction, 1 per index entry written) to every item the step wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from mypy_boto3_dynamodb import DynamoDBClient

from launchq.adapters.stores.dynamodb import DynamoRunStore, create_table
from launchq.domain.models import Queue, Run, RunSpec
from launchq.domain.states import RunState
from tests.contract.conftest import dynamodb_client
from tests.perf.dynamodb_metering import MeteringClient

pytestmark = pytest.mark.integration

S = RunState
T0 = datetime(2030, 1, 1, tzinfo=UTC)

# (step, read units, write units) for one run, from enqueue to finished, as DynamoDB Local
# counts them. Reads: add_run = the queue; position = the run + counts of the line's
# partitions ahead (index, eventually consistent: half units) + the earlier layout's line;
# claim = the queue + its slots + the head of the line + the run; a transition = the run.
# Before this layout (events as items of their own, a pending entry and counters in every
# transaction, an index entry per state in two state indexes, a seq counter) the same life
# cost 61 write units here, 51 by AWS's rules.
EXPECTED = [
    ("add_run", 1.0, 2.0),
    ("position", 1.5, 0.0),
    ("get_run", 1.0, 0.0),
    ("claim", 3.5, 4.0),
    ("claimed->starting", 1.0, 1.0),
    ("starting->running", 1.0, 1.0),
    ("running->finished", 1.0, 4.0),
]
TOTAL = (10.0, 12.0)

# (step, write units) of the same life by AWS's billing rules, on a queue limited to two runs.
# add_run: the run (1) and its entry in the line (1). claim: its slot (1), the run (1), its
# index entry moving from the line to the active partition (2). A move between active
# states: the run alone (1). finished: the run (1), its index entry moving to the finished
# partition (2), its slot freed (1). No transaction: each write is one conditional item write.
EXPECTED_BILLED = [
    ("add_run", 2.0),
    ("position", 0.0),
    ("get_run", 0.0),
    ("claim", 4.0),
    ("claimed->starting", 1.0),
    ("starting->running", 1.0),
    ("running->finished", 4.0),
]
TOTAL_BILLED = 12.0


@pytest.fixture
def client(dynamodb_url: str) -> DynamoDBClient:
    meter: DynamoDBClient = MeteringClient(dynamodb_client(dynamodb_url))  # type: ignore[assignment]
    return meter


@pytest.fixture
def store(client: DynamoDBClient) -> Iterator[DynamoRunStore]:
    table = f"launchq-capacity-{uuid4().hex[:8]}"
    create_table(client, table)
    yield DynamoRunStore(table, client)
    client.delete_table(TableName=table)


def a_run() -> Run:
    return Run(
        id=uuid4().hex,
        queue="gpu",
        entity="local",
        spec=RunSpec(docker_image="python:3.11", entry_point=["python", "train.py"], name="capacity"),
        created_at=T0,
        updated_at=T0,
    )


def test_one_runs_life_costs_a_fixed_number_of_units(store: DynamoRunStore) -> None:
    # GIVEN a queue limited to two runs (creating it is not counted)
    store.create_queue(Queue(name="gpu", resource="local-process", max_jobs=2, created_at=T0))
    run = a_run()
    later = T0 + timedelta(seconds=1)
    steps: list[tuple[str, Callable[[], object]]] = [
        ("add_run", lambda: store.add_run(run)),
        ("position", lambda: store.position(run)),
        ("get_run", lambda: store.get_run(run.id)),
        ("claim", lambda: store.claim("gpu", T0, T0 + timedelta(minutes=5))),
        ("claimed->starting", lambda: store.transition(run.id, S.CLAIMED, S.STARTING, "submitted", later)),
        ("starting->running", lambda: store.transition(run.id, S.STARTING, S.RUNNING, "running", later)),
        ("running->finished", lambda: store.transition(run.id, S.RUNNING, S.FINISHED, "exit 0", later)),
    ]
    # WHEN the run is taken through its whole life, one step at a time
    measured: list[tuple[str, float, float]] = []
    billed: list[tuple[str, float]] = []
    meter = store._db.client
    assert isinstance(meter, MeteringClient)
    for name, step in steps:
        store.consumed.reset()
        meter.billed.reset()
        step()
        measured.append((name, store.consumed.read_units, store.consumed.write_units))
        billed.append((name, meter.billed.write_units))
    # THEN every step costs what it cost when these figures were written down
    print()
    for (name, read, write), (_, aws) in zip(measured, billed, strict=True):
        print(f"{name:<20} read {read:5.1f}  write {write:5.1f}  billed write {aws:5.1f}")
    total_read = sum(read for _, read, _ in measured)
    total_write = sum(write for _, _, write in measured)
    total_billed = sum(aws for _, aws in billed)
    print(f"{'total':<20} read {total_read:5.1f}  write {total_write:5.1f}  billed write {total_billed:5.1f}")
    assert store.get_run(run.id).state is S.FINISHED
    assert measured == EXPECTED
    assert (total_read, total_write) == TOTAL
    assert billed == EXPECTED_BILLED
    assert total_billed == TOTAL_BILLED
