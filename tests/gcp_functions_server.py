"""The Google Cloud functions as real servers for tests: functions-framework, pstest, Firestore, Vertex.

- The three functions of ``functions/gcp/main.py`` each run in their own
  ``functions-framework`` process (``api`` as HTTP, ``dispatcher`` and ``reconciler`` with
  ``--signature-type cloudevent``), configured only through the environment, as Cloud
  Functions are: Firestore on the npm emulator, the doorbell topic on ``pstest``.
- pstest cannot push (LOCAL_STACK.md), so ``GcpFunctions.pump`` does Pub/Sub's part: it pulls
  the doorbell messages from the dispatcher's subscription and POSTs each as the push
  subscription of ``infra/gcp`` delivers it (``push``); ``post_cloud_event`` sends one as
  Eventarc would, a binary-mode ``messagePublished`` CloudEvent.
- No Vertex AI emulator exists, so ``VertexRestServer`` serves the four ``JobService`` REST
  calls the target makes (create, get, list, cancel) on 127.0.0.1 over the other helper's
  in-memory ``FakeJobService``; the functions reach it through the real ``JobServiceClient``
  (REST transport) that ``LAUNCHQ_VERTEX_ENDPOINT`` points at. The test drives job states
  in the fake directly (``vertex.jobs``).
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from launchq.adapters.targets.vertex_fake import FakeJobService
from tests.servers import _wait_port, free_port, stop_process, wait_http

REPO = Path(__file__).resolve().parent.parent
MAIN = REPO / "functions" / "gcp" / "main.py"
FUNCTIONS_FRAMEWORK = Path(sys.executable).with_name("functions-framework")
_JOB = re.compile(r"^/v1/(?P<name>projects/[^/]+/locations/[^/]+/customJobs/[^/:]+)(?P<cancel>:cancel)?$")
_JOBS = re.compile(r"^/v1/(?P<parent>projects/[^/]+/locations/[^/]+)/customJobs$")
CLOUD_EVENT_FUNCTIONS = ("dispatcher", "reconciler", "target_events")
_STATUS = {"NotFound": 404, "FailedPrecondition": 400, "InvalidArgument": 400}


class _VertexHandler(BaseHTTPRequestHandler):
    """JobService's REST mapping (``/v1/{parent}/customJobs``, ``/v1/{name}``, ``/v1/{name}:cancel``)."""

    server: _VertexHttp

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        jobs, one = _JOBS.match(path), _JOB.match(path)
        if jobs:
            found = parse_qs(url.query).get("filter", [""])[0]
            request = {"parent": jobs["parent"], **({"filter": found} if found else {})}
            self._answer(lambda s: {"customJobs": [_json(s, j) for j in s.list_custom_jobs(request=request)]})
        elif one:
            self._answer(lambda s: _json(s, s.get_custom_job(request={"name": one["name"]})))
        else:
            self._send(404, {"error": {"code": 404, "message": f"no route {path}", "status": "NOT_FOUND"}})

    def do_POST(self) -> None:
        path = unquote(urlsplit(self.path).path)
        body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode() or "{}"
        jobs, one = _JOBS.match(path), _JOB.match(path)
        if jobs:

            def create(s: FakeJobService) -> Any:
                job = s.v1.CustomJob.from_json(body, ignore_unknown_fields=True)
                return _json(s, s.create_custom_job(request={"parent": jobs["parent"], "custom_job": job}))

            self._answer(create)
        elif one and one["cancel"]:
            self._answer(lambda s: s.cancel_custom_job(request={"name": one["name"]}) or {})
        else:
            self._send(404, {"error": {"code": 404, "message": f"no route {path}", "status": "NOT_FOUND"}})

    def _answer(self, call: Any) -> None:
        service = self.server.service
        try:
            self._send(200, call(service))
        except service.api.GoogleAPICallError as exc:
            status = _STATUS.get(type(exc).__name__, 500)
            self._send(
                status, {"error": {"code": status, "message": exc.message, "status": type(exc).__name__}}
            )

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _json(service: FakeJobService, job: Any) -> Any:
    return json.loads(service.v1.CustomJob.to_json(job))


class _VertexHttp(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, service: FakeJobService) -> None:
        super().__init__(("127.0.0.1", 0), _VertexHandler)
        self.service = service


@contextmanager
def vertex_rest_server() -> Iterator[tuple[str, FakeJobService]]:
    """The fake Vertex AI JobService over REST on a free port: its ``http://`` URL and its jobs."""
    service = FakeJobService()
    server = _VertexHttp(service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", service
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class GcpFunctions:
    """The running functions and the doorbell subscription they are fed from."""

    api: str
    dispatcher: str
    reconciler: str
    topic: str
    subscription: str
    vertex: FakeJobService
    dispatched: list[str] = field(default_factory=list)
    target_events: str = ""  # the function a log sink's push subscription feeds (Vertex AI job entries)

    def pump(self) -> int:
        """Deliver every doorbell message waiting in the subscription to the dispatcher function,
        as Pub/Sub's push would (acked once the function answered 2xx). The number delivered."""
        from google.pubsub_v1 import SubscriberClient

        client, delivered = SubscriberClient(), 0
        pulled = client.pull(subscription=self.subscription, max_messages=100, timeout=10)
        while pulled.received_messages:
            for item in pulled.received_messages:
                answer = push(self.dispatcher, self.subscription, item.message.data, item.message.message_id)
                assert answer.status_code == 200, answer.text
                self.dispatched.append(json.loads(item.message.data)["queue"])
                client.acknowledge(subscription=self.subscription, ack_ids=[item.ack_id], timeout=10)
                delivered += 1
            pulled = client.pull(subscription=self.subscription, max_messages=100, timeout=10)
        return delivered

    def tick(self) -> None:
        """One reconciler run, as Cloud Scheduler's minute would fire it through Pub/Sub."""
        subscription = self.subscription.replace("dispatcher", "reconciler")
        answer = push(self.reconciler, subscription, b"{}", uuid.uuid4().hex)
        assert answer.status_code == 200, answer.text


def push(url: str, subscription: str, data: bytes, message_id: str) -> httpx.Response:
    """A Pub/Sub push request as infra/gcp's push subscriptions send it (OIDC header aside):
    the raw ``{"message", "subscription"}`` body, which functions-framework turns into the
    ``messagePublished`` CloudEvent."""
    message = {"data": base64.b64encode(data).decode(), "messageId": message_id, "attributes": {}}
    body = {"message": message, "subscription": subscription}
    return httpx.post(url, json=body, timeout=120)


def post_cloud_event(url: str, topic: str, data: dict[str, Any]) -> httpx.Response:
    """A Pub/Sub ``messagePublished`` CloudEvent in binary content mode, as Eventarc delivers it."""
    headers = {
        "ce-id": uuid.uuid4().hex,
        "ce-specversion": "1.0",
        "ce-source": f"//pubsub.googleapis.com/{topic}",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "content-type": "application/json",
    }
    return httpx.post(url, content=json.dumps(data), headers=headers, timeout=120)


@contextmanager
def _functions(env: dict[str, str], workdir: Path) -> Iterator[dict[str, str]]:
    """The three functions, started together (each takes seconds to import); their URLs by name.

    Stopped with SIGINT, gunicorn's quick shutdown (SIGTERM would wait for its graceful timeout)."""
    procs: dict[str, tuple[subprocess.Popen[bytes], int, Path]] = {}
    try:
        for target, cloud_event in [("api", False), *[(name, True) for name in CLOUD_EVENT_FUNCTIONS]]:
            port = free_port()
            argv = [str(FUNCTIONS_FRAMEWORK), "--source", str(MAIN), "--target", target]
            argv += ["--host", "127.0.0.1", "--port", str(port)]
            argv += ["--signature-type", "cloudevent"] if cloud_event else []
            log = workdir / f"{target}-{port}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
            procs[target] = (proc, port, log)
        for target, (proc, port, log) in procs.items():
            if target == "api":
                wait_http(f"http://127.0.0.1:{port}/healthz", proc, log, timeout=300)
            else:
                _wait_port(port, proc, log, timeout=300)
        yield {target: f"http://127.0.0.1:{port}" for target, (_, port, _) in procs.items()}
    finally:
        for proc, _, _ in procs.values():
            stop_process(proc, signal.SIGINT)


@contextmanager
def gcp_functions(
    workdir: Path, firestore_host: str, pubsub_host: str, topic: str, subscription: str, **extra: str
) -> Iterator[GcpFunctions]:
    """The three functions on one fresh Firestore prefix and the given doorbell topic."""
    project = topic.split("/")[1]
    with vertex_rest_server() as (vertex_url, vertex):
        env = {
            **os.environ,
            "FIRESTORE_EMULATOR_HOST": firestore_host,
            "PUBSUB_EMULATOR_HOST": pubsub_host,
            "LAUNCHQ_GCP_PROJECT": project,
            "LAUNCHQ_COLLECTION_PREFIX": f"t{uuid.uuid4().hex[:12]}",
            "LAUNCHQ_DOORBELL_TOPIC": topic,
            "LAUNCHQ_TARGETS": "vertex,kubernetes",
            "LAUNCHQ_VERTEX_ENDPOINT": vertex_url,
            "LAUNCHQ_VERTEX_STAGING_BUCKET": "gs://launchq-test-staging",
            "PYTHONWARNINGS": "ignore::FutureWarning",
            **extra,
        }
        with _functions(env, workdir) as urls:
            yield GcpFunctions(
                urls["api"], urls["dispatcher"], urls["reconciler"], topic, subscription, vertex,
                target_events=urls["target_events"],
            )  # fmt: skip


def wait_until(check: Any, what: str, functions: GcpFunctions, timeout: float = 180) -> Any:
    """Pump rings and tick the reconciler until ``check()`` is truthy; its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        functions.pump()
        functions.tick()
    raise AssertionError(f"never: {what}")
