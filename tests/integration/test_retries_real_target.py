"""Retries with back-off against a real target: the Kubernetes target, through the official
client over HTTP, on an API server (the stand-in) that answers the first two Job creations
with 429 Too Many Requests, as a throttled API server does. The run waits, is tried again at
its place in line, and the third try's Job runs to the end, once. On SQLite and on DynamoDB
Local (the retry is a same-state conditional move on each)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from launchq.adapters.builders.noop import NoopBuilder
from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
from launchq.adapters.stores.dynamodb import DynamoRunStore, create_table
from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.adapters.targets.kubernetes import KubernetesTarget
from launchq.bootstrap import Services, build_services
from launchq.domain.models import RunSpec
from launchq.domain.retry_policy import RetryPolicy
from launchq.domain.states import RunState as S
from launchq.ports import RunStore
from launchq.service.context import Context
from launchq.service.queues import QueueCreate
from launchq.service.targets import TargetCatalog
from tests.contract.conftest import dynamodb_client
from tests.kube_stand_in import KubeStandIn, client_factory
from tests.kube_stand_in_objects import ApiError
from tests.unit.fakes import Clock
from tests.unit.test_kubernetes_spec import SEED_JOB

IMAGE = "registry.example/team/train:5d41402abc4b2a76b9719d91"


class ThrottlingStandIn(KubeStandIn):
    """Refuses the first ``refusals`` Job creations with 429, as a throttled API server does."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals

    def create(self, api_version: str, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        if plural == "jobs" and self.refusals > 0:
            self.refusals -= 1
            raise ApiError(429, "TooManyRequests", "the server has received too many requests")
        return super().create(api_version, plural, namespace, body)


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunStore]:
    if request.param == "sqlite":
        yield SqliteRunStore(tmp_path / "launchq.db")
        return
    client = dynamodb_client(request.getfixturevalue("dynamodb_url"))
    table = f"launchq-{uuid4().hex}"
    create_table(client, table)
    yield DynamoRunStore(table, client)
    client.delete_table(TableName=table)


def kube_services(store: RunStore, kube: KubeStandIn, clock: Clock) -> Services:
    target = KubernetesTarget(client_factory(kube.url), watch_seconds=2)
    ctx = Context(
        store=store,
        doorbell=InProcessDoorbell(),
        targets=TargetCatalog({target.resource: target}),
        builder=NoopBuilder(),
        trigger=ReconcilerOnlyTrigger(),
        clock=clock,
    )
    return build_services(ctx)


def test_a_throttled_submit_is_retried_after_its_back_off_and_the_job_runs_once(store: RunStore) -> None:
    # GIVEN a kubernetes queue retrying 3 times 10 s apart, an API server throttling twice
    clock = Clock()
    with ThrottlingStandIn(refusals=2) as kube:
        svc = kube_services(store, kube, clock)
        retry = RetryPolicy(max_attempts=3, backoff_seconds=10, max_backoff_seconds=60)
        svc.queues.create(
            QueueCreate(name="k8s", resource="kubernetes", config=copy.deepcopy(SEED_JOB), retry=retry)
        )
        run, _ = svc.runs.enqueue("k8s", RunSpec(docker_image=IMAGE, entry_point=["python", "train.py"]))
        # WHEN it is dispatched: refused, it waits 10 s holding its claim
        (first,) = svc.dispatcher.dispatch("k8s")
        assert first.state is S.CLAIMED
        assert "429" in first.reason or "too many requests" in first.reason.lower(), first.reason
        # AND then 20 s after the second refusal
        clock.advance(10.5)
        svc.reconciler.tick()
        (second,) = svc.dispatcher.dispatch("k8s")
        assert second.reason.startswith("launch attempt 2 of 3 failed; next try in 20s"), second.reason
        clock.advance(20.5)
        svc.reconciler.tick()
        (third,) = svc.dispatcher.dispatch("k8s")
        # THEN the third try is submitted: one Job on the cluster, and it runs to the end
        assert third.state is S.STARTING, third.reason
        (job,) = kube.kinds("jobs", "wandb")
        assert job["metadata"]["name"] == f"launchq-{run.id}"
        kube.advance(run.id)
        kube.advance(run.id)
        clock.advance(1)
        svc.reconciler.tick()
        assert svc.runs.get(run.id).state is S.FINISHED
        attempts = [e.reason for e in svc.runs.events(run.id) if e.reason.startswith("launch attempt")]
        assert len(attempts) == 2


def test_the_retry_key_over_http_is_checked_stored_and_patched(api: httpx.Client) -> None:
    # GIVEN a queue body whose retry policy allows no attempt at all
    body = {"name": "flaky", "resource": "local-process", "retry": {"max_attempts": 0}}
    # WHEN it is posted: a 422 naming the field and the reason, and no queue stored
    refused = api.post("/queues", json=body)
    assert refused.status_code == 422, refused.text
    assert "retry.max_attempts" in refused.text
    assert "greater than or equal to 1" in refused.text
    assert api.get("/queues/flaky").status_code == 404
    # WHEN a queue is created without the key: the documented default
    assert api.post("/queues", json={"name": "flaky", "resource": "local-process"}).status_code == 201
    assert api.get("/queues/flaky").json()["retry"] == {
        "max_attempts": 3,
        "backoff_seconds": 10.0,
        "max_backoff_seconds": 300.0,
    }
    # AND a patch changes it (a W&B-style numeric string is read as a number)
    patched = api.patch("/queues/flaky", json={"retry": {"max_attempts": "5", "backoff_seconds": 30}})
    assert patched.status_code == 200, patched.text
    assert api.get("/queues/flaky").json()["retry"]["max_attempts"] == 5
