"""Vertex AI job state changes as events, and uploaded code in GCS, through the GCP functions.

The four functions of ``functions/gcp/main.py`` run in functions-framework on the Firestore
emulator and pstest (``tests/gcp_functions_server.py``); Vertex AI is the fake JobService behind
the real REST client; Cloud Storage is the JSON API stand-in (``tests/gcs_stand_in.py``).

Events: the log sink of ``infra/gcp`` publishes each routed LogEntry (as JSON) to a topic whose
push subscription feeds ``target_events``. pstest cannot push, so the test publishes the entry a
sink would to a topic in pstest, pulls it, and POSTs it to the function as the push subscription
does. No reconciler tick is run: the run moves on the event alone, frees its slot and rings the
doorbell, and the next run is submitted when that ring reaches the dispatcher.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.api_core import exceptions as google_errors

from tests.firestore_server import firestore_emulator
from tests.gcp_functions_server import GcpFunctions, gcp_functions, push
from tests.gcp_servers import PubSubEmulator, new_topic
from tests.gcs_stand_in import GcsStandIn, gcs_server

IMAGE = "us-central1-docker.pkg.dev/launchq-test/train/fit:1"
CODE_BUCKET = "launchq-test-code"
VERTEX_CONFIG = {
    "spec": {
        "worker_pool_specs": [
            {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1, "container_spec": {}}
        ]
    }
}
SUCCEEDED, FAILED = 4, 5  # aiplatform_v1.JobState
CLI = [sys.executable, "-m", "launchq.cli.main"]


@pytest.fixture(scope="module")
def gcs() -> Iterator[tuple[str, type[GcsStandIn]]]:
    with gcs_server() as server:
        yield server


@pytest.fixture(scope="module")
def gcp(
    tmp_path_factory: pytest.TempPathFactory,
    pubsub_session: PubSubEmulator,
    gcs: tuple[str, type[GcsStandIn]],
) -> Iterator[GcpFunctions]:
    """One deployment with a code bucket (on the GCS stand-in); tests use queues of their own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PUBSUB_EMULATOR_HOST", pubsub_session.host)  # for the test's own Pub/Sub clients
        topic, subscription = new_topic()
        workdir = tmp_path_factory.mktemp("gcp-events")
        extra = {"STORAGE_EMULATOR_HOST": gcs[0], "LAUNCHQ_CODE_BUCKET": CODE_BUCKET}
        with (
            firestore_emulator(tmp_path_factory.mktemp("firestore")) as firestore_host,
            gcp_functions(
                workdir, firestore_host, pubsub_session.host, topic, subscription, **extra
            ) as functions,
        ):
            yield functions


@pytest.fixture(scope="module")
def api(gcp: GcpFunctions) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gcp.api, timeout=120) as client:
        yield client


class LogSink:
    """What infra/gcp's log sink and push subscription do: publish a LogEntry to the topic, and
    deliver it to ``target_events`` (pulled from pstest, POSTed as the push would, acked on 2xx)."""

    def __init__(self, gcp: GcpFunctions) -> None:
        from google.pubsub_v1 import PublisherClient, SubscriberClient

        self.gcp, self.project = gcp, gcp.topic.split("/")[1]
        self.topic = f"projects/{self.project}/topics/target-events-{uuid.uuid4().hex[:8]}"
        self.subscription = self.topic.replace("/topics/", "/subscriptions/")
        self.publisher, self.subscriber = PublisherClient(), SubscriberClient()
        self.publisher.create_topic(name=self.topic, timeout=10)
        self.subscriber.create_subscription(
            name=self.subscription, topic=self.topic, ack_deadline_seconds=10, timeout=10
        )

    def route(self, entry: dict[str, Any] | bytes) -> list[int]:
        """Publish one entry as the sink would; deliver what the subscription holds. The statuses."""
        data = entry if isinstance(entry, bytes) else json.dumps(entry).encode()
        self.publisher.publish(topic=self.topic, messages=[{"data": data}], timeout=10)
        pulled = self.subscriber.pull(subscription=self.subscription, max_messages=10, timeout=10)
        statuses = []
        for item in pulled.received_messages:
            answer = push(
                self.gcp.target_events, self.subscription, item.message.data, item.message.message_id
            )
            statuses.append(answer.status_code)
            if answer.is_success:
                self.subscriber.acknowledge(subscription=self.subscription, ack_ids=[item.ack_id], timeout=10)
            else:  # a failed push is redelivered (after the retry policy's back-off, here at once)
                self.subscriber.modify_ack_deadline(
                    subscription=self.subscription, ack_ids=[item.ack_id], ack_deadline_seconds=0, timeout=10
                )
        return statuses

    def job_entry(self, job_name: str, text: str) -> dict[str, Any]:
        """Vertex AI's own message about a job, as Cloud Logging routes it (ml_job, its job_id)."""
        job_id = job_name.rsplit("/", 1)[1]
        return {
            "logName": f"projects/{self.project}/logs/ml.googleapis.com%2F{job_id}",
            "resource": {"type": "ml_job", "labels": {"job_id": job_id, "project_id": self.project}},
            "jsonPayload": {"message": text},
            "severity": "INFO",
        }


@pytest.fixture(scope="module")
def sink(gcp: GcpFunctions, pubsub_session: PubSubEmulator) -> Iterator[LogSink]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PUBSUB_EMULATOR_HOST", pubsub_session.host)
        yield LogSink(gcp)


def _job_of(gcp: GcpFunctions, run_id: str) -> str | None:
    created = [name for name, job in gcp.vertex.jobs.items() if job.labels.get("launchq-run-id") == run_id]
    return created[0] if created else None


def _state(api: httpx.Client, run_id: str) -> str:
    return str(api.get(f"/runs/{run_id}").json()["state"])


def _enqueue(api: httpx.Client, queue: str) -> str:
    answer = api.post(f"/queues/{queue}/runs", json={"docker_image": IMAGE})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_a_jobs_end_arrives_as_an_event_moves_its_run_and_the_next_run_takes_the_slot(
    gcp: GcpFunctions, api: httpx.Client, sink: LogSink
) -> None:
    # GIVEN a queue with one slot: the first run's Vertex AI job submitted, the second waiting
    queue = {"name": "evented", "resource": "vertex", "config": VERTEX_CONFIG, "max_jobs": 1}
    created = api.post("/queues", json=queue)
    assert created.status_code == 201, created.text
    first, second = _enqueue(api, "evented"), _enqueue(api, "evented")
    gcp.pump()
    first_job = _job_of(gcp, first)
    assert first_job is not None
    assert _job_of(gcp, second) is None
    assert _state(api, first) == "starting"

    # WHEN Vertex AI reports the job succeeded and its log entry reaches target_events
    gcp.vertex.set_state(first_job, SUCCEEDED)
    assert sink.route(sink.job_entry(first_job, "Job completed successfully.")) == [200]

    # THEN the run is finished at once, with no reconciler tick
    assert _state(api, first) == "finished"
    # AND its slot was freed and the doorbell rung: the dispatcher now submits the second run
    assert gcp.pump() >= 1
    second_job = _job_of(gcp, second)
    assert second_job is not None

    # WHEN the second job fails and Vertex AI says so
    gcp.vertex.set_state(second_job, FAILED, error="The replica workerpool0-0 exited with status 1.")
    assert sink.route(sink.job_entry(second_job, "Job failed.")) == [200]
    # THEN the run failed, with Vertex AI's reason in its events
    shown = api.get(f"/runs/{second}").json()
    assert shown["state"] == "failed"
    assert "exited with status 1" in shown["events"][-1]["reason"]


def test_entries_that_lead_to_no_run_are_acked_and_a_backend_error_is_redelivered(
    gcp: GcpFunctions, api: httpx.Client, sink: LogSink
) -> None:
    # GIVEN entries of no launchq job, of another service, and junk: each is acknowledged (2xx)
    foreign = {"protoPayload": {"serviceName": "storage.googleapis.com", "resourceName": "b/o"}}
    unknown = sink.job_entry("projects/p/locations/us-central1/customJobs/4242", "Job failed.")
    for entry in [unknown, foreign, b"not json at all", b"[1, 2]"]:
        assert sink.route(entry) == [200], entry
    # GIVEN a running job whose end arrives while Vertex AI cannot be reached
    queue = {"name": "flaky", "resource": "vertex", "config": VERTEX_CONFIG}
    assert api.post("/queues", json=queue).is_success
    run = _enqueue(api, "flaky")
    gcp.pump()
    job = _job_of(gcp, run)
    assert job is not None
    gcp.vertex.set_state(job, SUCCEEDED)
    gcp.vertex.fail_next("get_custom_job", google_errors.ServiceUnavailable("Vertex AI is unavailable"))
    # WHEN it is delivered  THEN the function fails, so Pub/Sub keeps it and redelivers it
    assert sink.route(sink.job_entry(job, "Job completed successfully.")) == [500]
    assert _state(api, run) == "starting"
    redelivered = sink.subscriber.pull(subscription=sink.subscription, max_messages=10, timeout=30)
    (item,) = redelivered.received_messages
    answer = push(gcp.target_events, sink.subscription, item.message.data, item.message.message_id)
    assert answer.status_code == 200
    assert _state(api, run) == "finished"


def test_code_push_reaches_the_gcs_code_store_through_the_http_function(
    gcp: GcpFunctions, api: httpx.Client, gcs: tuple[str, type[GcsStandIn]], tmp_path: Path
) -> None:
    # GIVEN a source tree
    tree = tmp_path / "src"
    tree.mkdir()
    (tree / "train.py").write_text("print('fit')\n")
    # WHEN it is pushed with the CLI to the GCP HTTP function
    done = subprocess.run(
        [*CLI, "code", "push", str(tree)],
        capture_output=True, text=True, env={**os.environ, "LAUNCHQ_URL": gcp.api}, timeout=120,
    )  # fmt: skip
    # THEN it prints the reference, and the code bucket holds exactly those bytes under code/
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"code://[0-9a-f]{64}\n", done.stdout), done.stdout
    digest = done.stdout.strip().removeprefix("code://")
    stored = gcs[1].objects[(CODE_BUCKET, f"code/{digest}.tar.gz")]
    assert hashlib.sha256(stored).hexdigest() == digest
    # AND a bad upload is a 422 naming the field, and nothing more is stored
    before = dict(gcs[1].objects)
    junk = api.post("/code", json={"data": base64.b64encode(b"not a tarball").decode()})
    assert (junk.status_code, junk.json()["field"]) == (422, "code")
    assert gcs[1].objects == before
