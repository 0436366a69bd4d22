"""Fixtures of the contract suites: each port's suite runs once per adapter of that port.

The stores' fixtures live here; the real OCI registry and buildah's session storage are
the integration tests' own fixtures, shared with the builder and registry suites.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import boto3
import pytest
from mypy_boto3_dynamodb import DynamoDBClient

from launchq.adapters.stores.dynamodb import DynamoRunStore, create_table
from launchq.adapters.stores.memory import MemoryRunStore
from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.domain.models import Queue, Run, RunSpec, Schedule
from launchq.domain.priority import Priority
from launchq.ports import RunStore
from tests.integration.conftest import buildah_storage, oci_registry

__all__ = ["buildah_storage", "oci_registry"]  # fixtures of the builder and registry suites

MakeQueue = Callable[..., Queue]
MakeRun = Callable[..., Run]
MakeSchedule = Callable[..., Schedule]


@pytest.fixture(scope="session")
def firestore_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Firestore emulator for the session (started only when needed); tests use their own prefix."""
    from tests.firestore_server import firestore_emulator

    with firestore_emulator(tmp_path_factory.mktemp("firestore")) as host:
        yield host


@pytest.fixture(params=["memory", "sqlite", "dynamodb", "firestore", "azure_tables"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunStore]:
    if request.param == "memory":
        yield MemoryRunStore()
        return
    if request.param == "azure_tables":
        # Fresh tables (their own prefix) per test on the session's Azurite.
        yield azure_tables_store(request.getfixturevalue("azurite_tables_conn"), f"t{uuid4().hex[:12]}")
        return
    if request.param == "firestore":
        from tests.firestore_server import firestore_store

        yield firestore_store(request.getfixturevalue("firestore_host"))
        return
    if request.param == "dynamodb":
        # A fresh table per test on the session's DynamoDB Local (started only when needed).
        client = dynamodb_client(request.getfixturevalue("dynamodb_url"))
        table = f"launchq-{uuid4().hex}"
        create_table(client, table)
        yield DynamoRunStore(table, client)
        client.delete_table(TableName=table)
        return
    sqlite_store = SqliteRunStore(tmp_path / "launchq.db")
    yield sqlite_store
    sqlite_store.close()


def azure_tables_store(conn: str, prefix: str) -> RunStore:
    """An Azure Tables store on Azurite (``conn``) with its tables made, under ``prefix``."""
    from launchq.adapters.stores.azure_tables import AzureTablesStore

    azure = AzureTablesStore.from_connection_string(conn, prefix)
    azure.ensure_tables()
    return azure


def dynamodb_client(url: str) -> DynamoDBClient:
    """A client for DynamoDB Local: explicit endpoint and dummy credentials, never real AWS."""
    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def build_queue(name: str = "gpu", max_jobs: int = -1) -> Queue:
    return Queue(name=name, resource="local-process", max_jobs=max_jobs, created_at=datetime.now(UTC))


def build_run(
    queue: str = "gpu",
    priority: Priority = Priority.MEDIUM,
    idempotency_key: str | None = None,
    name: str | None = None,
) -> Run:
    now = datetime.now(UTC)
    return Run(
        id=uuid4().hex,
        queue=queue,
        entity="local",
        spec=RunSpec(docker_image="python:3.11", entry_point=["python", "train.py"], name=name),
        priority=priority,
        idempotency_key=idempotency_key,
        created_at=now,
        updated_at=now,
    )


def build_schedule(
    name: str = "nightly", queue: str = "gpu", next_fire_at: datetime | None = None
) -> Schedule:
    return Schedule(
        name=name,
        queue=queue,
        cron="0 3 * * *",
        next_fire_at=next_fire_at or datetime(2030, 1, 1, 3, 0, tzinfo=UTC),
        created_at=datetime.now(UTC),
    )


@pytest.fixture
def make_queue(store: RunStore) -> MakeQueue:
    """Create a queue in the store and return it."""

    def make(name: str = "gpu", max_jobs: int = -1) -> Queue:
        queue = build_queue(name, max_jobs)
        store.create_queue(queue)
        return queue

    return make


@pytest.fixture
def new_queue() -> MakeQueue:
    """Build (but do not store) a queue."""
    return build_queue


@pytest.fixture
def new_run() -> MakeRun:
    """Build (but do not store) a run."""
    return build_run


@pytest.fixture
def add_run(store: RunStore) -> MakeRun:
    """Add a new run to the store and return the stored run (with its seq)."""

    def add(
        queue: str = "gpu",
        priority: Priority = Priority.MEDIUM,
        idempotency_key: str | None = None,
        name: str | None = None,
    ) -> Run:
        stored, created = store.add_run(build_run(queue, priority, idempotency_key, name))
        assert created
        return stored

    return add


@pytest.fixture
def new_schedule() -> MakeSchedule:
    return build_schedule
