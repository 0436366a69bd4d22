"""DynamoRunStore's edge: SDK failures come out as launchq errors, never as botocore ones."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import boto3
import pytest
from botocore.config import Config
from mypy_boto3_dynamodb import DynamoDBClient

from launchq.adapters.stores.dynamodb import DynamoRunStore, create_table
from launchq.domain.models import Queue, Run, RunSpec
from launchq.errors import AlreadyExists, BackendUnavailable, InvalidInput
from tests.contract.conftest import dynamodb_client

pytestmark = pytest.mark.integration
T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def client(dynamodb_url: str) -> DynamoDBClient:
    return dynamodb_client(dynamodb_url)


def test_a_missing_table_is_backend_unavailable(client: DynamoDBClient) -> None:
    store = DynamoRunStore(f"missing-{uuid4().hex[:8]}", client)
    with pytest.raises(BackendUnavailable, match="ResourceNotFoundException"):
        store.get_queue("gpu")


def test_an_unreachable_endpoint_is_backend_unavailable() -> None:
    client = boto3.session.Session().client(
        "dynamodb",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(connect_timeout=0.5, retries={"max_attempts": 1}),
    )
    with pytest.raises(BackendUnavailable, match="unreachable"):
        DynamoRunStore("launchq", client).list_queues()


def test_creating_the_table_twice_raises_already_exists(client: DynamoDBClient) -> None:
    name = f"launchq-{uuid4().hex[:8]}"
    create_table(client, name)
    with pytest.raises(AlreadyExists):
        create_table(client, name)
    client.delete_table(TableName=name)


def test_a_run_too_large_for_an_item_is_invalid_input(client: DynamoDBClient) -> None:
    name = f"launchq-{uuid4().hex[:8]}"
    create_table(client, name)
    store = DynamoRunStore(name, client)
    store.create_queue(Queue(name="gpu", resource="local-process", created_at=T0))
    huge = Run(
        id=uuid4().hex,
        queue="gpu",
        entity="local",
        spec=RunSpec(docker_image="python:3.11"),
        resolved={"blob": "x" * 500_000},
        created_at=T0,
        updated_at=T0,
    )
    with pytest.raises(InvalidInput):
        store.add_run(huge)
    assert store.count_queued("gpu") == 0
    client.delete_table(TableName=name)
