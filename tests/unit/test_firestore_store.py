"""The Firestore store beyond its contract suites, on the Firestore emulator (npm).

What the guards do when a write loses (a claim's slot is given back, a late heartbeat
changes nothing), how ``seq`` is made, that a missing emulator fails the tests rather than
skipping them, and which cloud SDKs the store loads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from launchq.adapters.stores import firestore as firestore_module
from launchq.adapters.stores.firestore import FirestoreRunStore
from launchq.adapters.stores.firestore_docs import event_id, next_seq
from launchq.domain.models import Queue, Run, RunSpec, RunUpdate
from launchq.domain.states import RunState as S
from launchq.errors import BackendUnavailable
from tests import firestore_server
from tests.firestore_server import firestore_emulator, firestore_store
from tests.unit.test_pubsub_doorbell import _modules_after  # one probe for every cloud-import test

T0 = datetime(2030, 1, 1, tzinfo=UTC)
LEASE = T0 + timedelta(minutes=5)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with firestore_emulator(tmp_path_factory.mktemp("firestore")) as host:
        yield host


@pytest.fixture
def store(emulator: str) -> FirestoreRunStore:
    return firestore_store(emulator)


def enqueue(store: FirestoreRunStore, queue: str = "gpu") -> Run:
    run = Run(
        id=os.urandom(8).hex(),
        queue=queue,
        entity="local",
        spec=RunSpec(docker_image="python:3.11"),
        created_at=T0,
        updated_at=T0,
    )
    stored, created = store.add_run(run)
    assert created
    return stored


def collection(store: FirestoreRunStore, kind: str) -> list[dict[str, object]]:
    return [snapshot.to_dict() or {} for snapshot in store._docs.collection(kind).stream()]


def test_a_claim_that_keeps_losing_its_run_gives_its_slot_back(store: FirestoreRunStore) -> None:
    # GIVEN a two-slot queue whose first run's next event was already written by another
    # claimer (what the emulator leaves of a claim that lost half-way through its commit)
    store.create_queue(Queue(name="gpu", resource="local-process", max_jobs=2, created_at=T0))
    first = enqueue(store)
    store._docs.collection("events").document(event_id(first.id, 2)).create(
        {"run_id": first.id, "version": 2, "body": "{}", "token": "other"}
    )
    # WHEN a claim tries it until it gives up
    with pytest.raises(BackendUnavailable, match="kept losing"):
        store.claim("gpu", T0, LEASE)
    # THEN no slot is held, and the run is still first in line
    assert collection(store, "slots") == []
    assert store.get_run(first.id).state is S.QUEUED
    assert store.count_active("gpu") == 0


def test_a_heartbeat_written_for_a_version_the_run_left_changes_nothing(store: FirestoreRunStore) -> None:
    # GIVEN a claimed run whose lease then expired (back in line at version 3)
    store.create_queue(Queue(name="gpu", resource="local-process", max_jobs=-1, created_at=T0))
    run = enqueue(store)
    assert store.claim("gpu", T0, LEASE) is not None
    store.transition(run.id, S.CLAIMED, S.QUEUED, "lease expired", T0, RunUpdate(clear_lease=True))
    # WHEN a heartbeat of version 2 lands after that move (a race the emulator does not isolate)
    late = (T0 + timedelta(hours=1)).isoformat()
    store._docs.collection("runs").document(run.id).update({"lease": late, "lease_version": 2})
    # THEN the run reads as the move left it: no lease
    after = store.get_run(run.id)
    assert (after.state, after.version, after.lease_expires_at) == (S.QUEUED, 3, None)


def test_an_enqueue_that_draws_a_seq_already_taken_draws_again(
    store: FirestoreRunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a queue, and seq draws that repeat (two servers on one millisecond, same bits)
    store.create_queue(Queue(name="gpu", resource="local-process", max_jobs=-1, created_at=T0))
    draws = iter([7, 7, 9])
    monkeypatch.setattr(firestore_module, "next_seq", lambda: next(draws))
    # WHEN two runs are enqueued  THEN both are stored, with distinct seqs, in order
    first, second = enqueue(store), enqueue(store)
    assert (first.seq, second.seq) == (7, 9)
    assert [run.id for run in store.list_runs(queue="gpu")] == [second.id, first.id]
    assert [event.reason for event in store.events(second.id)] == ["enqueued"]


def test_seq_strictly_increases_and_stays_an_exact_json_number() -> None:
    seqs = [next_seq() for _ in range(5000)]
    assert seqs == sorted(set(seqs))
    assert seqs[-1] < 2**53


def test_runs_enqueued_one_after_another_are_claimed_in_that_order(store: FirestoreRunStore) -> None:
    store.create_queue(Queue(name="gpu", resource="local-process", max_jobs=-1, created_at=T0))
    ids = [enqueue(store, "gpu").id for _ in range(20)]
    claimed = [store.claim("gpu", T0, LEASE) for _ in ids]
    assert [run.id for run in claimed if run is not None] == ids


def test_a_missing_emulator_fails_rather_than_skips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(firestore_server, "LOCALSTACK", tmp_path)
    with pytest.raises(RuntimeError, match="make setup"), firestore_emulator(tmp_path):
        pass


def test_the_store_modules_and_the_aws_handlers_load_no_google_module() -> None:
    loaded = _modules_after(
        "import launchq.adapters.stores.firestore, launchq.adapters.stores.firestore_moves, "
        "functions.aws.api, functions.aws.dispatcher, functions.aws.reconciler, functions.aws.events"
    )
    assert "launchq" in loaded
    assert {"google", "grpc", "azure"}.isdisjoint(loaded)


def test_a_store_in_use_loads_google_and_never_aws_or_azure(emulator: str) -> None:
    code = (
        "from tests.firestore_server import firestore_store\n"
        f"store = firestore_store({emulator!r})\n"
        "assert store.list_queues() == []"
    )
    loaded = _modules_after(code)
    assert {"google", "grpc"} <= loaded
    assert {"boto3", "botocore", "azure"}.isdisjoint(loaded)
