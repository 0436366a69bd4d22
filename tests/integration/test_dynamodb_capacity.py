"""What one run's life costs on DynamoDB, in capacity units as DynamoDB Local reports them.

The figures are exact on purpose: a change to the table layout or to the calls a step
makes shows up here as a changed number, to be looked at and then written down again.
Units are ``TOTAL`` (table plus indexes); transactional writes count double, as on AWS.
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

pytestmark = pytest.mark.integration

S = RunState
T0 = datetime(2030, 1, 1, tzinfo=UTC)

# (step, read units, write units) for one run, from enqueue to finished, as DynamoDB Local
# counts them (its transactional figures are its own: it charges a 4-item and a 2-item
# transaction the same 4 table units). Reads: claim = queue + head of line + run;
# position = run + the count of entries up to its own; a transition = the run.
# Writes: every run change also rewrites its two state-keyed, keys-only index entries
# (by_state, by_queue_state); add_run adds the seq counter and one entry in each index.
EXPECTED = [
    ("add_run", 0.0, 13.0),
    ("position", 2.0, 0.0),
    ("get_run", 1.0, 0.0),
    ("claim", 3.0, 12.0),
    ("claimed->starting", 1.0, 12.0),
    ("starting->running", 1.0, 12.0),
    ("running->finished", 1.0, 12.0),
]
TOTAL = (9.0, 61.0)


@pytest.fixture
def client(dynamodb_url: str) -> DynamoDBClient:
    return dynamodb_client(dynamodb_url)


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
    for name, step in steps:
        store.consumed.reset()
        step()
        measured.append((name, store.consumed.read_units, store.consumed.write_units))
    # THEN every step costs what it cost when these figures were written down
    print()
    for name, read, write in measured:
        print(f"{name:<20} read {read:5.1f}  write {write:5.1f}")
    total_read = sum(read for _, read, _ in measured)
    total_write = sum(write for _, _, write in measured)
    print(f"{'total':<20} read {total_read:5.1f}  write {total_write:5.1f}")
    assert store.get_run(run.id).state is S.FINISHED
    assert measured == EXPECTED
    assert (total_read, total_write) == TOTAL
