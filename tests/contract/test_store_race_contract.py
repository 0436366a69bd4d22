"""The store race contract: four OS processes claiming from one store at once.

Run against every store that several processes can share: SQLite (one file), DynamoDB
(one DynamoDB Local table), Firestore (one emulator, one collection prefix) and Azure
Tables (one Azurite, one table prefix). The
in-memory store lives in one process and has its own thread-free claim; it runs the rest
of the store contract (``test_store_contract.py``).

Each child process opens its own store, says ``ready``, waits for ``go`` on stdin (so all
four start together), and prints its result as JSON on its last line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from launchq.adapters.stores.dynamodb import DynamoRunStore, create_table
from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.domain.models import Queue, Run, RunSpec
from launchq.domain.states import RunState
from launchq.ports import RunStore
from tests.contract.conftest import azure_tables_store, dynamodb_client
from tests.helpers import most_at_once, race

pytestmark = pytest.mark.integration

PROCESSES = 4

# Opens the store named in argv: ``sqlite <queue> <retries> <path>`` or
# ``dynamodb <queue> <retries> <endpoint url> <table>``.
PRELUDE = """
import json, sys, time
from datetime import UTC, datetime, timedelta
from launchq.domain.states import RunState as S
from launchq.errors import BackendUnavailable

kind, queue, retries = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == "sqlite":
    from launchq.adapters.stores.sqlite import SqliteRunStore
    store = SqliteRunStore(sys.argv[4])
elif kind == "firestore":
    from tests.firestore_server import firestore_store
    store = firestore_store(sys.argv[4], sys.argv[5])
elif kind == "azure_tables":
    from launchq.adapters.stores.azure_tables import AzureTablesStore
    store = AzureTablesStore.from_connection_string(sys.argv[4], sys.argv[5])
else:
    import boto3
    from launchq.adapters.stores.dynamodb import DynamoRunStore
    client = boto3.session.Session().client(
        "dynamodb", endpoint_url=sys.argv[4], region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    store = DynamoRunStore(sys.argv[5], client)

def claim():
    # On DynamoDB, BackendUnavailable is documented as safe to retry (heavy contention); a
    # dispatcher retries it (SQS redelivery, the local loop's next pass), so this one does
    # too. SQLite gets no retry: its claims wait for the lock and must never fail here.
    for _ in range(retries):
        now = datetime.now(UTC)
        try:
            return store.claim(queue, now, now + timedelta(minutes=5))
        except BackendUnavailable:
            time.sleep(0.05)
    if retries:
        raise SystemExit(f"claims kept losing for {retries} retries")
    now = datetime.now(UTC)
    return store.claim(queue, now, now + timedelta(minutes=5))

print("ready", flush=True)
sys.stdin.readline()
"""

# Claims until the queue is empty, pausing briefly after each claim as a dispatcher would.
CLAIMER = (
    PRELUDE
    + """
got = []
while (run := claim()) is not None:
    got.append(run.id)
    time.sleep(0.001)
print(json.dumps(got), flush=True)
"""
)

# A dispatcher that also runs what it claims: claim while there is a free slot, take the
# runs through starting and running, hold them a moment, finish them, and start over
# until nothing is left in line. It logs, per run, a time after its claim returned and a
# time before its finish was written: an interval inside the run's real time in a slot.
DISPATCHER = (
    PRELUDE
    + """
log, samples, held = [], [], []
while True:
    while (run := claim()) is not None:
        held.append((run.id, time.time()))
        samples.append(store.count_active(queue))
    if not held:
        if store.count_queued(queue) == 0:
            break
        time.sleep(0.002)
        continue
    now = datetime.now(UTC)
    for run_id, _ in held:
        store.transition(run_id, S.CLAIMED, S.STARTING, "submitted", now)
        store.transition(run_id, S.STARTING, S.RUNNING, "running", now)
    time.sleep(0.01)
    for run_id, claimed_at in held:
        log.append([run_id, claimed_at, time.time()])
        store.transition(run_id, S.RUNNING, S.FINISHED, "exit 0", datetime.now(UTC))
    held = []
print(json.dumps({"log": log, "samples": samples}), flush=True)
"""
)


@dataclass
class SharedStore:
    store: RunStore
    where: list[str]  # the child's argv: the store kind, its retries, then its location
    many: int  # how many runs the claim-everything race seeds

    def in_processes(self, script: str) -> list[str]:
        """Run PROCESSES copies of ``script`` at once; return each one's last line."""
        kind, *rest = self.where
        argv = [sys.executable, "-c", script, kind, "gpu", *rest]
        return [out.strip().splitlines()[-1] for out in race([argv] * PROCESSES, timeout=240)]

    def seed(self, max_jobs: int, runs: int) -> set[str]:
        return seed(self.store, max_jobs, runs)


def seed(store: RunStore, max_jobs: int, runs: int) -> set[str]:
    """Create the queue ``gpu`` (``max_jobs``) holding ``runs`` queued runs; their ids."""
    now = datetime.now(UTC)
    store.create_queue(Queue(name="gpu", resource="local-process", max_jobs=max_jobs, created_at=now))
    ids: set[str] = set()
    for _ in range(runs):
        run = Run(
            id=uuid4().hex,
            queue="gpu",
            entity="local",
            spec=RunSpec(docker_image="python:3.11"),
            created_at=now,
            updated_at=now,
        )
        stored, _ = store.add_run(run)
        ids.add(stored.id)
    return ids


@pytest.fixture(params=["sqlite", "dynamodb", "firestore", "azure_tables"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SharedStore]:
    if request.param == "azure_tables":
        conn, prefix = request.getfixturevalue("azurite_tables_conn"), f"race{uuid4().hex[:8]}"
        azure = azure_tables_store(conn, prefix)
        yield SharedStore(azure, ["azure_tables", "20", conn, prefix], many=300)
        return
    if request.param == "firestore":
        from tests.firestore_server import firestore_store

        host, prefix = request.getfixturevalue("firestore_host"), f"race{uuid4().hex[:8]}"
        yield SharedStore(firestore_store(host, prefix), ["firestore", "20", host, prefix], many=300)
        return
    if request.param == "sqlite":
        path = tmp_path / "launchq.db"
        sqlite_store = SqliteRunStore(path)
        yield SharedStore(sqlite_store, ["sqlite", "0", str(path)], many=400)
        sqlite_store.close()
        return
    url = request.getfixturevalue("dynamodb_url")
    client = dynamodb_client(url)
    table = f"launchq-race-{uuid4().hex[:8]}"
    create_table(client, table)
    yield SharedStore(DynamoRunStore(table, client), ["dynamodb", "20", url, table], many=300)
    client.delete_table(TableName=table)


def test_four_processes_claim_every_run_exactly_once(shared: SharedStore) -> None:
    # GIVEN many queued runs on an unlimited queue (400 in SQLite, 300 in DynamoDB Local)
    store = shared.store
    ids = shared.seed(max_jobs=-1, runs=shared.many)
    # WHEN four processes claim until the queue is empty
    results = [json.loads(out) for out in shared.in_processes(CLAIMER)]
    # THEN no run was claimed twice, none was lost, and every process got some
    claimed = [run_id for got in results for run_id in got]
    assert len(claimed) == len(set(claimed)), "a run was claimed by two processes"
    assert set(claimed) == ids
    assert all(got for got in results), [len(got) for got in results]
    assert (store.count_active("gpu"), store.count_queued("gpu")) == (shared.many, 0)
    assert store.list_runs(queue="gpu", states=[RunState.QUEUED]) == []
    assert len(store.list_runs(queue="gpu", states=[RunState.CLAIMED])) == shared.many
    assert all(len(store.events(run_id)) == 2 for run_id in claimed)


def test_four_processes_never_exceed_max_jobs(shared: SharedStore) -> None:
    # GIVEN a queue limited to 3 concurrent runs with 40 waiting
    store = shared.store
    shared.seed(max_jobs=3, runs=40)
    # WHEN four processes claim (and never finish anything)
    results = [json.loads(out) for out in shared.in_processes(CLAIMER)]
    # THEN exactly three runs were handed out in total
    assert sum(len(got) for got in results) == 3
    assert len(store.list_runs(queue="gpu", states=[RunState.CLAIMED])) == 3
    assert len(store.list_runs(queue="gpu", states=[RunState.QUEUED])) == 37


def test_racing_dispatchers_never_exceed_max_jobs_and_finish_every_run_once(shared: SharedStore) -> None:
    # GIVEN a queue limited to 3 concurrent runs with 150 waiting
    store = shared.store
    ids = shared.seed(max_jobs=3, runs=150)
    # WHEN four dispatcher processes claim, run, finish and claim again until the line is empty
    results = [json.loads(out) for out in shared.in_processes(DISPATCHER)]
    # THEN every run was finished exactly once
    log = [entry for result in results for entry in result["log"]]
    finished = [run_id for run_id, _, _ in log]
    assert len(finished) == len(set(finished)), "a run was run twice"
    assert set(finished) == ids
    # AND the queue's own count never went over 3, nor did the runs seen holding a slot
    samples = [sample for result in results for sample in result["samples"]]
    assert max(samples) <= 3
    most = most_at_once([(start, end) for _, start, end in log])
    assert 2 <= most <= 3, most  # at least 2: the limit was actually contended
    # AND the store agrees: nothing active or waiting, every run finished with its five events
    assert (store.count_active("gpu"), store.count_queued("gpu")) == (0, 0)
    assert {run.id for run in store.list_runs(queue="gpu", states=[RunState.FINISHED])} == ids
    assert all(len(store.events(run_id)) == 5 for run_id in ids)
