"""A limited queue's slots on DynamoDB heal after a crash between a run's write and its slot's.

A claim takes a slot and then writes the run; a run's end writes the run and then frees
its slot (``dynamodb_slots``). A process that dies between the two leaves a holder whose
run is not active. The items below are left exactly so, with the raw client, and the next
claim that needs the slot must take it back, without ever freeing the slot of a run
that is active.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from mypy_boto3_dynamodb import DynamoDBClient

from launchq.adapters.stores.dynamodb import DynamoRunStore, create_table
from launchq.domain.models import Queue
from launchq.domain.states import RunState
from tests.contract.conftest import build_run, dynamodb_client

pytestmark = pytest.mark.integration

S = RunState
T0 = datetime(2030, 1, 1, tzinfo=UTC)
LEASE = T0 + timedelta(minutes=5)


@pytest.fixture
def shared(dynamodb_url: str) -> Iterator[tuple[DynamoRunStore, DynamoDBClient, str]]:
    client = dynamodb_client(dynamodb_url)
    name = f"launchq-slots-{uuid4().hex[:8]}"
    create_table(client, name)
    store = DynamoRunStore(name, client)
    store.create_queue(Queue(name="gpu", resource="local-process", max_jobs=1, created_at=T0))
    yield store, client, name
    client.delete_table(TableName=name)


def hold(client: DynamoDBClient, table: str, run_id: str, token: int) -> None:
    """Leave ``run_id`` holding a slot, as a process that died mid-claim or mid-release would."""
    client.update_item(
        TableName=table,
        Key={"PK": {"S": "SLOTS"}, "SK": {"S": "gpu"}},
        UpdateExpression="SET m.#run = :token",
        ExpressionAttributeNames={"#run": run_id},
        ExpressionAttributeValues={":token": {"N": str(token)}},
    )


def holders(client: DynamoDBClient, table: str) -> dict[str, str]:
    item = client.get_item(
        TableName=table, Key={"PK": {"S": "SLOTS"}, "SK": {"S": "gpu"}}, ConsistentRead=True
    )
    return {run_id: token["N"] for run_id, token in item["Item"]["m"]["M"].items()}


def test_a_slot_taken_by_a_claim_that_died_goes_back_to_its_run(
    shared: tuple[DynamoRunStore, DynamoDBClient, str],
) -> None:
    # GIVEN a queue of one slot, held for its only queued run by a claimer that died
    store, client, table = shared
    run, _ = store.add_run(build_run())
    hold(client, table, run.id, run.version + 1)
    # WHEN a dispatcher claims
    claimed = store.claim("gpu", T0, LEASE)
    # THEN the stale slot was taken back (fencing the run: a version, no event) and given
    # to the claim, which holds it alone
    assert claimed is not None
    assert claimed.id == run.id
    assert claimed.version == run.version + 2
    assert [event.reason for event in store.events(run.id)] == ["enqueued", "claimed by dispatcher"]
    assert holders(client, table) == {run.id: str(claimed.version)}
    assert store.count_active("gpu") == 1


def test_a_slot_a_finished_run_did_not_free_is_freed_for_the_next_run(
    shared: tuple[DynamoRunStore, DynamoDBClient, str],
) -> None:
    # GIVEN a run that ended, but whose process died before freeing its slot, and a run waiting
    store, client, table = shared
    first, _ = store.add_run(build_run())
    waiting, _ = store.add_run(build_run())
    claimed = store.claim("gpu", T0, LEASE)
    assert claimed is not None
    assert claimed.id == first.id
    store.transition(first.id, S.CLAIMED, S.STOPPED, "stopped by user", T0)
    hold(client, table, first.id, claimed.version)
    # WHEN a dispatcher claims  THEN the waiting run gets the slot
    second = store.claim("gpu", T0, LEASE)
    assert second is not None
    assert second.id == waiting.id
    assert holders(client, table) == {waiting.id: str(second.version)}
    assert store.get_run(first.id).state is S.STOPPED


def test_the_slot_of_an_active_run_is_never_taken_away(
    shared: tuple[DynamoRunStore, DynamoDBClient, str],
) -> None:
    # GIVEN a queue of one slot held by a running run, and a run waiting
    store, client, table = shared
    running, _ = store.add_run(build_run())
    store.add_run(build_run())
    claimed = store.claim("gpu", T0, LEASE)
    assert claimed is not None
    store.transition(running.id, S.CLAIMED, S.STARTING, "submitted", T0)
    # WHEN another dispatcher claims  THEN nothing is handed out and the holder stays
    assert store.claim("gpu", T0, LEASE) is None
    assert holders(client, table) == {running.id: str(claimed.version)}
    assert (store.count_active("gpu"), store.count_queued("gpu")) == (1, 1)
