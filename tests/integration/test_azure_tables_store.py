"""The Azure Tables store against Azurite: what the shared contract suites do not pin.

Large records (a run's spec split across binary properties), the size refusal that leaves
nothing stored, the tables made idempotently, and the SDK's errors leaving as launchq's
(a bad connection string, an account that does not answer) without the key in the text.
"""

from __future__ import annotations

import os
from base64 import b64encode
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from azure.data.tables import TableServiceClient

from launchq.adapters.stores.azure_tables import AzureTablesStore
from launchq.domain.models import Run, RunSpec
from launchq.domain.states import RunState
from launchq.errors import BackendUnavailable, InvalidInput, PayloadTooLarge
from tests.contract.conftest import build_queue
from tests.servers import AZURITE_KEY, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def azure(azurite_tables_conn: str) -> AzureTablesStore:
    store = AzureTablesStore.from_connection_string(azurite_tables_conn, f"i{uuid4().hex[:12]}")
    store.ensure_tables()
    store.ensure_tables()  # idempotent: a second deployment start changes nothing
    store.create_queue(build_queue("gpu"))
    return store


def run_with_args(args: list[str]) -> Run:
    now = datetime.now(UTC)
    spec = RunSpec(docker_image="python:3.11", entry_point=["python", "train.py"], args=args)
    return Run(id=uuid4().hex, queue="gpu", entity="local", spec=spec, created_at=now, updated_at=now)


def random_text(chars: int) -> str:
    return b64encode(os.urandom(chars * 3 // 4)).decode()[:chars]


def test_a_run_with_a_200_kb_spec_round_trips_through_enqueue_claim_and_listing(
    azure: AzureTablesStore,
) -> None:
    # GIVEN a run whose spec is ~200 KB of text compression cannot shrink much
    args = [random_text(25_000) for _ in range(8)]
    stored, created = azure.add_run(run_with_args(args))
    assert created
    # WHEN it is read back, claimed (its line entry carries the same copy) and listed
    now = datetime.now(UTC)
    claimed = azure.claim("gpu", now, now + timedelta(minutes=5))
    # THEN every byte of the spec came back each time
    assert azure.get_run(stored.id).spec.args == args
    assert claimed is not None
    assert claimed.spec.args == args
    assert [run.spec.args for run in azure.list_runs("gpu", [RunState.CLAIMED])] == [args]


def test_a_spec_no_entity_can_hold_is_refused_and_nothing_is_stored(azure: AzureTablesStore) -> None:
    # GIVEN a run of ~1.9 MB of incompressible args (past what one entity holds, compressed)
    run = run_with_args([random_text(32_000) for _ in range(60)])
    # WHEN it is enqueued THEN it is PayloadTooLarge naming the spec
    with pytest.raises(PayloadTooLarge) as raised:
        azure.add_run(run)
    assert raised.value.field == "spec"
    # AND the queue holds nothing of it
    assert azure.count_queued("gpu") == 0
    assert azure.list_runs("gpu") == []


def test_a_malformed_connection_string_is_invalid_input_without_the_text() -> None:
    secret = "AccountKey=not-a-real-key-but-still-secret"
    with pytest.raises(InvalidInput) as raised:
        AzureTablesStore.from_connection_string(f"nonsense;{secret}")
    assert raised.value.field == "connection_string"
    assert "secret" not in str(raised.value)


def test_an_account_that_does_not_answer_is_backend_unavailable_without_the_key() -> None:
    # GIVEN a store on a port nothing listens on (the SDK's own retries off)
    conn = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={AZURITE_KEY};TableEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;"
    )
    store = AzureTablesStore(TableServiceClient.from_connection_string(conn, retry_total=0))
    # WHEN it is asked anything THEN it is BackendUnavailable, and the key is not in the text
    with pytest.raises(BackendUnavailable) as raised:
        store.get_queue("gpu")
    assert AZURITE_KEY not in str(raised.value)


def test_a_prefix_azure_cannot_name_tables_with_is_invalid_input(azurite_tables_conn: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        AzureTablesStore.from_connection_string(azurite_tables_conn, "launch-q")
    assert raised.value.field == "prefix"
