"""DynamoRunStore under real contention: four OS processes claiming from one DynamoDB Local table."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from mypy_boto3_dynamodb import DynamoDBClient

from launchq.adapters.stores.dynamodb import DynamoRunStore, create_table
from launchq.domain.models import Queue, Run, RunSpec
from launchq.domain.states import RunState
from tests.contract.conftest import dynamodb_client
from tests.helpers import race

pytestmark = pytest.mark.integration

PROCESSES = 4

# Shared by both children: a store on the table named in argv, a "ready" line, then wait
# for "go" on stdin so that all four start together.
PRELUDE = """
import json, sys, time
from datetime import UTC, datetime, timedelta
import boto3
from launchq.adapters.stores.dynamodb import DynamoRunStore
from launchq.domain.states import RunState as S

url, table, queue = sys.argv[1:4]
client = boto3.session.Session().client(
    "dynamodb", endpoint_url=url, region_name="us-east-1",
    aws_access_key_id="testing", aws_secret_access_key="testing",
)
store = DynamoRunStore(table, client)

from launchq.errors import BackendUnavailable

def claim():
    # BackendUnavailable is documented as safe to retry (heavy contention); a dispatcher
    # retries it (SQS redelivery, the local loop's next pass), so this one does too.
    for _ in range(20):
        now = datetime.now(UTC)
        try:
            return store.claim(queue, now, now + timedelta(minutes=5))
        except BackendUnavailable:
            time.sleep(0.05)
    raise SystemExit("claims kept losing for 20 retries")

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


@pytest.fixture
def client(dynamodb_url: str) -> DynamoDBClient:
    return dynamodb_client(dynamodb_url)


@pytest.fixture
def table(client: DynamoDBClient) -> Iterator[str]:
    name = f"launchq-race-{uuid4().hex[:8]}"
    create_table(client, name)
    yield name
    client.delete_table(TableName=name)


def _seed(store: DynamoRunStore, max_jobs: int, runs: int) -> set[str]:
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


def _in_processes(script: str, url: str, table: str) -> list[str]:
    """Run PROCESSES copies of ``script`` at once against ``table``; return each one's last line."""
    argv = [sys.executable, "-c", script, url, table, "gpu"]
    return [out.strip().splitlines()[-1] for out in race([argv] * PROCESSES, timeout=240)]


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one time (an end sorts before a start at the same instant)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = open_now = 0
    for _, step in edges:
        open_now += step
        most = max(most, open_now)
    return most


def test_four_processes_claim_every_run_exactly_once(
    client: DynamoDBClient, table: str, dynamodb_url: str
) -> None:
    # GIVEN 300 queued runs on an unlimited queue
    store = DynamoRunStore(table, client)
    ids = _seed(store, max_jobs=-1, runs=300)
    # WHEN four processes claim until the queue is empty
    results = [json.loads(out) for out in _in_processes(CLAIMER, dynamodb_url, table)]
    # THEN no run was claimed twice, none was lost, and every process got some
    claimed = [run_id for got in results for run_id in got]
    assert len(claimed) == len(set(claimed)), "a run was claimed by two processes"
    assert set(claimed) == ids
    assert all(got for got in results), [len(got) for got in results]
    assert (store.count_active("gpu"), store.count_queued("gpu")) == (300, 0)
    assert store.list_runs(queue="gpu", states=[RunState.QUEUED]) == []
    assert len(store.list_runs(queue="gpu", states=[RunState.CLAIMED])) == 300
    assert all(len(store.events(run_id)) == 2 for run_id in claimed)


def test_racing_dispatchers_never_exceed_max_jobs_and_finish_every_run_once(
    client: DynamoDBClient, table: str, dynamodb_url: str
) -> None:
    # GIVEN a queue limited to 3 concurrent runs with 150 waiting
    store = DynamoRunStore(table, client)
    ids = _seed(store, max_jobs=3, runs=150)
    # WHEN four dispatcher processes claim, run, finish and claim again until the line is empty
    results = [json.loads(out) for out in _in_processes(DISPATCHER, dynamodb_url, table)]
    # THEN every run was finished exactly once
    log = [entry for result in results for entry in result["log"]]
    finished = [run_id for run_id, _, _ in log]
    assert len(finished) == len(set(finished)), "a run was run twice"
    assert set(finished) == ids
    # AND the queue's own count never went over 3, nor did the runs seen holding a slot
    samples = [sample for result in results for sample in result["samples"]]
    assert max(samples) <= 3
    most = _most_at_once([(start, end) for _, start, end in log])
    assert 2 <= most <= 3, most  # at least 2: the limit was actually contended
    # AND the store agrees: nothing active or waiting, every run finished with its five events
    assert (store.count_active("gpu"), store.count_queued("gpu")) == (0, 0)
    assert {run.id for run in store.list_runs(queue="gpu", states=[RunState.FINISHED])} == ids
    assert all(len(store.events(run_id)) == 5 for run_id in ids)
