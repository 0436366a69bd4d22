"""A table written by the earlier DynamoDB layout keeps working after the upgrade.

The earlier layout (until 2026-11-30) kept a run's full body with the keys of four indexes,
its events as ``EVENT#`` items, its queued runs as ``PENDING#`` entries counted in the
queue item's ``queued``, its active runs counted in the queue item's ``active``, and had no
slots item. The items below are written exactly so, with the raw client; the store of this
layout must read them, place them in line, claim them in order and move them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from mypy_boto3_dynamodb import DynamoDBClient

from launchq.adapters.stores.dynamodb import DynamoRunStore, create_table
from launchq.domain.models import Queue, Run, RunEvent, RunSpec
from launchq.domain.priority import Priority
from launchq.domain.states import RunState
from tests.contract.conftest import dynamodb_client

pytestmark = pytest.mark.integration

S = RunState
T0 = datetime(2030, 1, 1, tzinfo=UTC)
LEASE = T0 + timedelta(minutes=5)


@pytest.fixture
def table(dynamodb_url: str) -> Iterator[tuple[DynamoDBClient, str]]:
    client = dynamodb_client(dynamodb_url)
    name = f"launchq-old-{uuid4().hex[:8]}"
    create_table(client, name)
    yield client, name
    client.delete_table(TableName=name)


def old_run(name: str, state: RunState, seq: int, priority: Priority = Priority.MEDIUM) -> Run:
    spec = RunSpec(docker_image="python:3.11", entry_point=["python", "train.py"], name=name)
    return Run(
        id=uuid4().hex, queue="gpu", entity="local", spec=spec, state=state, priority=priority,
        seq=seq, version=3 if state is not S.QUEUED else 1, created_at=T0, updated_at=T0,
    )  # fmt: skip


def write_old(client: DynamoDBClient, table: str, run: Run) -> None:
    """``run`` as the earlier layout stored it: item, index keys, events, pending entry."""
    item: dict[str, Any] = {
        "PK": {"S": f"RUN#{run.id}"}, "SK": {"S": "RUN"}, "body": {"S": run.model_dump_json()},
        "state": {"S": run.state.value}, "version": {"N": str(run.version)}, "queue": {"S": "gpu"},
        "seq": {"N": str(run.seq)}, "by_queue": {"S": "QUEUE#gpu"}, "all_runs": {"S": "RUNS"},
        "by_state": {"S": f"STATE#{run.state.value}"},
        "by_queue_state": {"S": f"QUEUE#gpu#STATE#{run.state.value}"},
    }  # fmt: skip
    client.put_item(TableName=table, Item=item)
    event = RunEvent(run_id=run.id, at=T0, from_state=None, to_state=S.QUEUED, reason="enqueued")
    client.put_item(
        TableName=table,
        Item={"PK": item["PK"], "SK": {"S": "EVENT#0000000001"}, "body": {"S": event.model_dump_json()}},
    )
    if run.state is S.QUEUED:
        pending = f"PENDING#{int(run.priority)}#{run.seq:020d}"
        entry = {"PK": {"S": "QUEUE#gpu"}, "SK": {"S": pending}, "run_id": {"S": run.id}}
        client.put_item(TableName=table, Item=entry)


def test_runs_of_the_earlier_layout_are_read_placed_claimed_and_moved(
    table: tuple[DynamoDBClient, str],
) -> None:
    # GIVEN a queue limited to two, as the earlier layout left it: one high run waiting,
    # one running (counted on the queue item), one finished; no slots item
    client, name = table
    queue = Queue(name="gpu", resource="local-process", max_jobs=2, created_at=T0)
    client.put_item(
        TableName=name,
        Item={
            "PK": {"S": "QUEUES"}, "SK": {"S": "gpu"}, "body": {"S": queue.model_dump_json()},
            "version": {"N": "1"}, "max_jobs": {"N": "2"}, "active": {"N": "1"}, "queued": {"N": "1"},
        },
    )  # fmt: skip
    waiting = old_run("waiting", S.QUEUED, 5, Priority.HIGH)
    running = old_run("running", S.RUNNING, 3)
    done = old_run("done", S.FINISHED, 1)
    for run in (waiting, running, done):
        write_old(client, name, run)
    store = DynamoRunStore(name, client)

    # WHEN a run of this layout joins the line
    new, _ = store.add_run(old_run("new", S.QUEUED, 0).model_copy(update={"version": 1}))

    # THEN the old runs read as they were, with their events, and everyone has a place
    assert store.get_run(waiting.id) == waiting
    assert [e.reason for e in store.events(running.id)] == ["enqueued"]
    assert (store.position(waiting), store.position(new)) == (1, 2)
    assert store.positions([new, waiting]) == {waiting.id: 1, new.id: 2}
    assert (store.count_active("gpu"), store.count_queued("gpu")) == (1, 2)
    assert [r.id for r in store.list_runs(queue="gpu")] == [new.id, waiting.id, running.id, done.id]
    assert [r.id for r in store.list_runs(states=[S.RUNNING])] == [running.id]
    assert [r.id for r in store.list_runs(queue="gpu", states=[S.FINISHED])] == [done.id]

    # WHEN claiming: the old high run first; then the queue is full (the old running run
    # still holds its slot)
    claimed = store.claim("gpu", T0, LEASE)
    assert claimed is not None
    assert claimed.id == waiting.id
    assert store.claim("gpu", T0, LEASE) is None
    assert (store.count_active("gpu"), store.count_queued("gpu")) == (2, 1)

    # WHEN the old running run ends  THEN its slot frees, the new run is claimed, and its
    # history keeps the old events before the new one
    store.transition(running.id, S.RUNNING, S.FINISHED, "exit 0", T0)
    assert store.count_active("gpu") == 1
    second = store.claim("gpu", T0, LEASE)
    assert second is not None
    assert second.id == new.id
    assert [e.reason for e in store.events(running.id)] == ["enqueued", "exit 0"]
    assert [e.reason for e in store.events(waiting.id)] == ["enqueued", "claimed by dispatcher"]
    assert store.list_runs(queue="gpu", states=[S.QUEUED]) == []
