"""Vertex AI job log entries routed to the ``target_events`` function (``launchq.gcp.events``).

The parser reads a log sink's Pub/Sub message (base64 JSON LogEntry) in both forms a sink
routes -- a job's own ``ml_job`` entry and a Cloud Audit Log entry of aiplatform.googleapis.com
-- and refuses everything else without a retry. The service path runs on the in-package
fakes: memory store, in-process doorbell, and the Vertex AI target over ``FakeJobService``
(the SDK's own messages and exceptions), so a job's end reconciles its one run, frees its
slot and rings the queue. The same path through functions-framework and pstest is in
``tests/functional/test_gcp_events.py``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest
from google.api_core import exceptions as api

from launchq.adapters.builders.noop import NoopBuilder
from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
from launchq.adapters.stores.memory import MemoryRunStore
from launchq.adapters.targets.fake import FakeTarget
from launchq.adapters.targets.vertex import VertexTarget
from launchq.adapters.targets.vertex_fake import FakeJobService
from launchq.bootstrap import Services, build_services
from launchq.domain.models import Run, RunSpec
from launchq.domain.states import RunState
from launchq.errors import BackendUnavailable, InvalidInput
from launchq.gcp.events import target_event, vertex_job_of
from launchq.ports import Target
from launchq.service.context import Context
from launchq.service.queues import QueueCreate
from launchq.service.targets import TargetCatalog
from tests.unit.fakes import Clock

PROJECT, LOCATION = "launchq-test", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
IMAGE = "us-central1-docker.pkg.dev/launchq-test/train/fit:1"
VERTEX_CONFIG = {
    "spec": {
        "worker_pool_specs": [
            {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1, "container_spec": {}}
        ]
    }
}
SUCCEEDED, FAILED = 4, 5  # aiplatform_v1.JobState


def message(entry: Any) -> dict[str, Any]:
    """A log sink's Pub/Sub message as the CloudEvent's data: the entry as base64 JSON."""
    data = base64.b64encode(json.dumps(entry).encode()).decode()
    return {"message": {"data": data, "messageId": "1"}, "subscription": "projects/p/subscriptions/events"}


def job_entry(job_id: str, text: str = "Job completed successfully.") -> dict[str, Any]:
    """Vertex AI's own message about a custom job, as Cloud Logging stores it."""
    return {
        "logName": f"projects/{PROJECT}/logs/ml.googleapis.com%2F{job_id}",
        "resource": {
            "type": "ml_job",
            "labels": {"job_id": job_id, "project_id": PROJECT, "task_name": "service"},
        },
        "jsonPayload": {"message": text},
        "severity": "INFO",
    }


def audit_entry(
    job_name: str, method: str = "CancelCustomJob", service: str = "aiplatform.googleapis.com"
) -> Any:
    return {
        "logName": f"projects/{PROJECT}/logs/cloudaudit.googleapis.com%2Factivity",
        "resource": {"type": "audited_resource", "labels": {"service": service}},
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "serviceName": service,
            "methodName": "google.cloud.aiplatform.v1.JobService.CancelCustomJob",
            "resourceName": job_name,
        },
    }


# -- the parser ------------------------------------------------------------------------------------
def test_a_jobs_own_entry_and_an_audit_entry_both_name_the_job() -> None:
    job_id = "1234567890123456789"
    assert vertex_job_of(message(job_entry(job_id))) == job_id
    assert vertex_job_of(message(audit_entry(f"{PARENT}/customJobs/{job_id}"))) == job_id


@pytest.mark.parametrize(
    "entry",
    [
        audit_entry(f"{PARENT}/customJobs/42", service="storage.googleapis.com"),  # another service
        audit_entry(f"{PARENT}/endpoints/42"),  # Vertex AI, but no custom job
        {"resource": {"type": "gce_instance", "labels": {"instance_id": "42"}}, "textPayload": "boot"},
        {"resource": {"type": "ml_job", "labels": {"job_id": "not-a-number"}}},
        {"textPayload": "no resource at all"},
    ],
    ids=["foreign-service", "not-a-custom-job", "other-resource", "bad-job-id", "no-resource"],
)
def test_entries_about_anything_else_name_no_job(entry: dict[str, Any]) -> None:
    assert vertex_job_of(message(entry)) is None


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (None, "message"),
        ({"message": {"data": "%%% not base64"}}, "message.data"),
        ({"message": {"data": base64.b64encode(b"\xff\xfe").decode()}}, "not a JSON log entry"),
        ({"message": {"data": base64.b64encode(b"{not json").decode()}}, "not a JSON log entry"),
        (message(["a", "list"]), "JSON list, not an object"),
    ],
    ids=["no-message", "not-base64", "not-utf8", "not-json", "a-list"],
)
def test_a_message_that_is_no_log_entry_is_invalid_input_naming_why(data: Any, why: str) -> None:
    with pytest.raises(InvalidInput, match=why) as refused:
        vertex_job_of(data)
    assert refused.value.field == "event"


# -- the service path ----------------------------------------------------------------------------
@dataclass
class World:
    svc: Services
    jobs: FakeJobService
    doorbell: InProcessDoorbell

    def enqueue(self, name: str) -> Run:
        run, _ = self.svc.runs.enqueue("train", RunSpec(docker_image=IMAGE, name=name))
        return run

    def job_of(self, run: Run) -> str:
        return self.svc.runs.get(run.id).handle["job_name"]


def services(target: Target, doorbell: InProcessDoorbell) -> Services:
    """The in-package world around one target: memory store, no builds."""
    ctx = Context(
        store=MemoryRunStore(),
        doorbell=doorbell,
        targets=TargetCatalog({target.resource: target}),
        builder=NoopBuilder(),
        trigger=ReconcilerOnlyTrigger(),
        clock=Clock(),
    )
    return build_services(ctx)


@pytest.fixture
def world() -> World:
    jobs, doorbell = FakeJobService(), InProcessDoorbell()
    vertex = VertexTarget(PROJECT, LOCATION, job_client=jobs, staging_bucket="gs://launchq-staging")
    svc = services(vertex, doorbell)
    svc.queues.create(QueueCreate(name="train", resource="vertex", config=VERTEX_CONFIG, max_jobs=1))
    return World(svc, jobs, doorbell)


def test_a_jobs_end_reconciles_its_run_frees_the_slot_and_rings_the_queue(world: World) -> None:
    # GIVEN a run whose Vertex AI job is running, and a run waiting behind it for the one slot
    first, second = world.enqueue("first"), world.enqueue("second")
    assert [run.id for run in world.svc.dispatcher.dispatch("train")] == [first.id]
    job = world.job_of(first)
    world.doorbell.wait(0)  # forget the rings so far
    # AND Vertex AI says the job failed
    world.jobs.set_state(job, FAILED, error="The replica workerpool0-0 exited with a non-zero status of 1.")

    # WHEN Vertex AI's message about the job arrives
    run = target_event(world.svc, message(job_entry(job.rsplit("/", 1)[1], "Job failed.")))

    # THEN the run is failed with Vertex AI's reason, at once (no reconciler tick)
    assert run is not None
    assert (run.id, run.state) == (first.id, RunState.FAILED)
    assert "non-zero status of 1" in world.svc.runs.events(first.id)[-1].reason
    # AND its queue was rung, and the run behind it gets the slot
    assert world.doorbell.wait(0) == {"train"}
    assert [run.id for run in world.svc.dispatcher.dispatch("train")] == [second.id]


def test_a_cancel_audit_entry_of_a_finished_job_settles_its_run(world: World) -> None:
    run = world.enqueue("cancelled")
    world.svc.dispatcher.dispatch("train")
    job = world.job_of(run)
    world.jobs.set_state(job, SUCCEEDED)
    settled = target_event(world.svc, message(audit_entry(job)))
    assert settled is not None
    assert settled.state == RunState.FINISHED


def test_entries_that_lead_to_no_run_are_acknowledged_without_moving_anything(world: World) -> None:
    # GIVEN a running job of launchq's, a user's own job, and a job labelled with a run this deployment lacks
    run = world.enqueue("mine")
    world.svc.dispatcher.dispatch("train")
    theirs = world.jobs.create_custom_job(
        request={"parent": PARENT, "custom_job": {"display_name": "theirs"}}
    )
    stranger = world.jobs.create_custom_job(
        request={
            "parent": PARENT,
            "custom_job": {"display_name": "x", "labels": {"launchq-run-id": "f" * 16}},
        }
    )
    asked = len(world.jobs.calls("get_custom_job"))
    # WHEN their entries, an unknown job's, a foreign entry and junk arrive
    for data in [
        message(job_entry(theirs.name.rsplit("/", 1)[1])),
        message(job_entry(stranger.name.rsplit("/", 1)[1])),
        message(job_entry("999")),
        message(audit_entry(f"{PARENT}/customJobs/1", service="storage.googleapis.com")),
        {"message": {"data": "bm90IGpzb24="}},
    ]:
        # THEN each is answered with nothing to do (the function returns, Pub/Sub acks it)
        assert target_event(world.svc, data) is None
    # AND only the three job entries asked Vertex AI; the run was not touched
    assert len(world.jobs.calls("get_custom_job")) == asked + 3
    assert world.svc.runs.get(run.id).state == RunState.STARTING


def test_a_backend_error_fails_the_invocation_so_pubsub_redelivers(world: World) -> None:
    run = world.enqueue("flaky")
    world.svc.dispatcher.dispatch("train")
    job = world.job_of(run)
    world.jobs.set_state(job, SUCCEEDED)
    world.jobs.fail_next("get_custom_job", api.ServiceUnavailable("Vertex AI is unavailable"))
    with pytest.raises(BackendUnavailable, match="ServiceUnavailable"):
        target_event(world.svc, message(job_entry(job.rsplit("/", 1)[1])))
    assert world.svc.runs.get(run.id).state == RunState.STARTING
    # the redelivered entry settles it
    settled = target_event(world.svc, message(job_entry(job.rsplit("/", 1)[1])))
    assert settled is not None
    assert settled.state == RunState.FINISHED


def test_a_deployment_without_the_vertex_target_ignores_job_entries() -> None:
    assert target_event(services(FakeTarget(), InProcessDoorbell()), message(job_entry("42"))) is None
