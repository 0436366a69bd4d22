"""launchq on Google Cloud, end to end against real servers (issue 13).

The three functions of ``functions/gcp/main.py`` run in functions-framework, on the Firestore
emulator and pstest; Vertex AI is the fake JobService behind the real REST client
(``tests/gcp_functions_server.py``). A run goes: enqueue over HTTP -> the Pub/Sub doorbell ->
the test delivers the message as a CloudEvent -> the dispatcher function -> CreateCustomJob
-> job states driven in the fake -> the reconciler function polls -> state over HTTP. Then the
local end-to-end scenario through the GCP HTTP function: priority order with ``max_jobs: 1``,
stop, bad input, 500 concurrent clients.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.firestore_server import firestore_emulator
from tests.functional.test_server_load import _fire, _mixed_calls
from tests.gcp_functions_server import GcpFunctions, gcp_functions, post_cloud_event, wait_until
from tests.gcp_servers import PubSubEmulator, new_topic

IMAGE = "us-central1-docker.pkg.dev/launchq-test/train/fit:1"
VERTEX_CONFIG = {
    "spec": {
        "worker_pool_specs": [
            {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1, "container_spec": {}}
        ]
    },
    "run": {"timeout": 3600},
}
RUNNING, SUCCEEDED = 3, 4  # aiplatform_v1.JobState


@pytest.fixture(scope="module")
def firestore_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with firestore_emulator(tmp_path_factory.mktemp("firestore")) as host:
        yield host


@pytest.fixture(scope="module")
def gcp(
    tmp_path_factory: pytest.TempPathFactory, firestore_host: str, pubsub_session: PubSubEmulator
) -> Iterator[GcpFunctions]:
    """One deployment for the module (the functions take seconds to start); tests use their own queues."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PUBSUB_EMULATOR_HOST", pubsub_session.host)  # for the test's own Pub/Sub clients
        topic, subscription = new_topic()
        workdir = tmp_path_factory.mktemp("gcp-functions")
        with gcp_functions(workdir, firestore_host, pubsub_session.host, topic, subscription) as functions:
            yield functions


@pytest.fixture(scope="module")
def api(gcp: GcpFunctions) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gcp.api, timeout=120) as client:  # a loaded 2-core box
        yield client


def _queue(api: httpx.Client, name: str, **body: Any) -> None:
    answer = api.post("/queues", json={"name": name, "resource": "vertex", "config": VERTEX_CONFIG, **body})
    assert answer.status_code == 201, answer.text


def _enqueue(api: httpx.Client, queue: str, **body: Any) -> dict[str, Any]:
    answer = api.post(f"/queues/{queue}/runs", json={"docker_image": IMAGE, **body})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _job_of(gcp: GcpFunctions, run_id: str) -> str | None:
    """The Vertex AI job the dispatcher created for ``run_id``, if any (by its run-id label)."""
    created = [name for name, job in gcp.vertex.jobs.items() if job.labels.get("launchq-run-id") == run_id]
    return created[0] if created else None


def _created(gcp: GcpFunctions, queue: str) -> list[str]:
    """The run ids of the CreateCustomJob calls for ``queue``'s runs, in order."""
    bodies = [body["custom_job"]["labels"] for body in gcp.vertex.calls("create_custom_job")]
    return [labels["launchq-run-id"] for labels in bodies if labels.get("launchq-queue") == queue]


def _state(api: httpx.Client, run_id: str) -> str:
    return str(api.get(f"/runs/{run_id}").json()["state"])


def _run_to(gcp: GcpFunctions, api: httpx.Client, run_id: str, job_state: int, run_state: str) -> None:
    """Put the run's job in ``job_state`` and wait for the reconciler to report ``run_state``."""
    job = wait_until(lambda: _job_of(gcp, run_id), f"a Vertex AI job for {run_id}", gcp)
    gcp.vertex.set_state(job, job_state)
    wait_until(lambda: _state(api, run_id) == run_state, f"{run_id} {run_state}", gcp)


def test_an_enqueue_rings_pubsub_and_the_dispatcher_function_submits_the_vertex_job(
    gcp: GcpFunctions, api: httpx.Client
) -> None:
    # GIVEN a Vertex AI queue, and a run enqueued over the HTTP function
    _queue(api, "train", max_jobs=2)
    run = _enqueue(api, "train", entry_point=["python", "fit.py"], args=["--epochs", "3"], name="fit")
    assert (run["state"], run["position"]) == ("queued", 1)

    # WHEN the doorbell message published to Pub/Sub is delivered to the dispatcher function
    assert gcp.pump() >= 1
    assert "train" in gcp.dispatched

    # THEN one CustomJob was created for it, with the run's image, command and labels
    assert _created(gcp, "train") == [run["id"]]
    created = [
        c
        for c in gcp.vertex.calls("create_custom_job")
        if c["custom_job"]["labels"]["launchq-queue"] == "train"
    ]
    job = created[0]["custom_job"]
    container = job["job_spec"]["worker_pool_specs"][0]["container_spec"]
    assert (container["image_uri"], container["command"], container["args"]) == (
        IMAGE,
        ["python", "fit.py"],
        ["--epochs", "3"],
    )
    assert job["labels"]["launchq-run-id"] == run["id"]
    assert created[0]["parent"] == f"projects/{gcp.topic.split('/')[1]}/locations/us-central1"
    assert _state(api, run["id"]) in {"starting", "running"}

    # AND the job's states, polled by the reconciler function, reach the run over HTTP
    _run_to(gcp, api, run["id"], RUNNING, "running")
    _run_to(gcp, api, run["id"], SUCCEEDED, "finished")
    events = [e["to_state"] for e in api.get(f"/runs/{run['id']}").json()["events"]]
    assert events[-2:] == ["running", "finished"]


def test_priorities_run_in_order_behind_a_busy_slot(gcp: GcpFunctions, api: httpx.Client) -> None:
    # GIVEN a queue with one slot, held by a running job
    _queue(api, "prio", max_jobs=1)
    blocker = _enqueue(api, "prio")
    _run_to(gcp, api, blocker["id"], RUNNING, "running")

    # WHEN runs are enqueued as low, critical, high, medium (and delivered to the dispatcher)
    ids = {p: _enqueue(api, "prio", priority=p, name=p)["id"] for p in ["low", "critical", "high", "medium"]}
    positions = {p: api.get(f"/runs/{i}").json()["position"] for p, i in ids.items()}
    gcp.pump()
    gcp.tick()
    assert _created(gcp, "prio") == [blocker["id"]]  # max_jobs: 1 -- nothing else was submitted

    # THEN each starts only when the one before it ended: critical, high, medium, low
    _run_to(gcp, api, blocker["id"], SUCCEEDED, "finished")
    for priority in ["critical", "high", "medium", "low"]:
        _run_to(gcp, api, ids[priority], SUCCEEDED, "finished")
    assert positions == {"critical": 1, "high": 2, "medium": 3, "low": 4}
    assert _created(gcp, "prio") == [blocker["id"], ids["critical"], ids["high"], ids["medium"], ids["low"]]


def test_stop_cancels_the_vertex_job_and_a_queued_run(gcp: GcpFunctions, api: httpx.Client) -> None:
    # GIVEN a running job and a run waiting behind it
    _queue(api, "stoppable", max_jobs=1)
    running = _enqueue(api, "stoppable")
    _run_to(gcp, api, running["id"], RUNNING, "running")
    waiting = _enqueue(api, "stoppable")

    # WHEN both are stopped over HTTP
    stopped_running = api.post(f"/runs/{running['id']}/stop")
    stopped_waiting = api.post(f"/runs/{waiting['id']}/stop")

    # THEN the waiting run is cancelled without a job, and stopping it again is a conflict
    assert (stopped_waiting.status_code, stopped_waiting.json()["state"]) == (202, "cancelled")
    assert api.post(f"/runs/{waiting['id']}/stop").status_code == 409
    # AND the running one's job is cancelled; once Vertex AI says CANCELLED the run is stopped
    assert (stopped_running.status_code, stopped_running.json()["state"]) == (202, "stopping")
    job = _job_of(gcp, running["id"])
    assert job is not None
    wait_until(lambda: gcp.vertex.calls("cancel_custom_job"), "CancelCustomJob", gcp)
    assert gcp.vertex.calls("cancel_custom_job")[0]["name"] == job
    gcp.vertex.advance(job)  # CANCELLING -> CANCELLED
    wait_until(lambda: _state(api, running["id"]) == "stopped", "stopped", gcp)
    assert _job_of(gcp, waiting["id"]) is None


BAD_VERTEX = {"spec": {"worker_pool_specs": [{"replica_count": 1, "nope": 1}]}}
NO_CLUSTER = {"spec": {"template": {"spec": {"containers": [{"name": "main"}]}}}}


@pytest.mark.parametrize(
    ("queue", "resource", "config", "run", "field"),
    [
        ("bad-priority", "vertex", VERTEX_CONFIG, {"docker_image": IMAGE, "priority": "urgent"}, "priority"),
        ("bad-key", "vertex", VERTEX_CONFIG, {"docker_image": IMAGE, "nope": 1}, "nope"),
        ("no-image", "vertex", VERTEX_CONFIG, {"entry_point": ["python"]}, "docker_image"),
        ("bad-vertex", "vertex", BAD_VERTEX, {"docker_image": IMAGE}, "resource_args.vertex"),
        ("no-cluster", "kubernetes", NO_CLUSTER, {"docker_image": IMAGE}, "resource_args.kubernetes.launchq"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field_and_nothing_is_stored(
    api: httpx.Client, queue: str, resource: str, config: dict[str, Any], run: dict[str, Any], field: str
) -> None:
    created = api.post("/queues", json={"name": queue, "resource": resource, "config": config})
    assert created.status_code == 201, created.text
    answer = api.post(f"/queues/{queue}/runs", json=run)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"].startswith(field), answer.json()
    assert api.get("/runs", params={"queue": queue}).json()["runs"] == []


def test_a_resource_this_deployment_does_not_offer_is_refused(api: httpx.Client) -> None:
    answer = api.post("/queues", json={"name": "sm", "resource": "sagemaker"})
    assert (answer.status_code, answer.json()["field"]) == (422, "resource")
    assert "vertex" in answer.json()["detail"]
    assert api.get("/queues/sm").status_code == 404


def test_oversized_and_malformed_bodies_and_a_bad_ring_are_refused(
    gcp: GcpFunctions, api: httpx.Client
) -> None:
    too_big = api.post("/queues", content=b"{" + b" " * (11 * 1024 * 1024) + b"}")
    assert (too_big.status_code, too_big.json()["field"]) == (413, "body")
    chunked = api.post("/queues", content=iter([b"{" + b" " * 1024 * 1024] * 3))  # no Content-Length
    assert (chunked.status_code, chunked.json()["error"]) == (413, "payload_too_large")
    broken = api.post("/queues", content=b'{"name": ', headers={"content-type": "application/json"})
    assert broken.status_code == 422
    # a Pub/Sub message that is no doorbell ring fails (Pub/Sub retries it, then dead-letters it)
    bad_ring = post_cloud_event(gcp.dispatcher, gcp.topic, {"message": {"data": "bm90IGpzb24="}})
    assert bad_ring.status_code >= 400
    assert (
        post_cloud_event(gcp.dispatcher, gcp.topic, {"message": {"data": "eyJxdWV1ZSI6ICJ4In0="}}).status_code
        == 200
    )
    assert api.get("/healthz").json()["status"] == "ok"


def test_500_concurrent_clients_are_all_answered_with_no_5xx(gcp: GcpFunctions, api: httpx.Client) -> None:
    # GIVEN a queue whose one slot is held, with 50 runs waiting behind it
    _queue(api, "load", max_jobs=1)
    holder = _enqueue(api, "load")
    _run_to(gcp, api, holder["id"], RUNNING, "running")
    waiting = [_enqueue(api, "load")["id"] for _ in range(50)]
    calls = _mixed_calls(waiting)
    for call in calls:  # Vertex AI runs images: every valid enqueue names one
        if call.kind in {"enqueue", "keyed"}:
            call.json = {**call.json, "docker_image": IMAGE}

    # WHEN 500 clients call the HTTP function at once
    started = time.monotonic()
    answers = asyncio.run(_fire(gcp.api, calls))
    elapsed = time.monotonic() - started

    # THEN every one got the answer its request deserves, none a 5xx
    responses = [a for a in answers if isinstance(a, httpx.Response)]
    assert len(responses) == 500, [a for a in answers if isinstance(a, BaseException)][:3]
    statuses = Counter(r.status_code for r in responses)
    print(f"\n500 concurrent clients of the GCP function: {elapsed:.1f} s, {dict(sorted(statuses.items()))}")
    wrong = [
        (c.kind, c.path, r.status_code, r.text[:200])
        for c, r in zip(calls, responses, strict=True)
        if r.status_code not in c.expect
    ]
    assert not wrong, wrong[:5]
    # AND each idempotency key made one run; the stopped runs are cancelled
    keyed: dict[str | None, set[str]] = {}
    for call, response in zip(calls, responses, strict=True):
        if call.kind == "keyed":
            keyed.setdefault(call.key, set()).add(response.json()["id"])
    assert len(keyed) == 50
    assert all(len(ids) == 1 for ids in keyed.values())
    listed = api.get("/runs", params={"queue": "load", "limit": 10_000}).json()["runs"]
    assert len(listed) == 1 + 50 + 150 + 50
    assert {run["state"] for run in listed if run["id"] in waiting} == {"cancelled"}
    assert api.get("/healthz").json()["status"] == "ok"
