"""The agent routes as a GPU workstation's `launchq agent --url` meets them on the AWS stack.

The path is the deployed one, piece by piece: the agent's own client (``launchq.remote.client``)
signs with the CLI's SigV4 signer; ``tests.sigv4_proxy`` stands for API Gateway's IAM auth
(``ANY /{proxy+}``, ``AWS_IAM`` in template.yaml) and verifies every signature from the bytes
that arrived; behind it each request becomes an HTTP API payload-2.0 event for the API Lambda
handler (``functions/aws/api.py``), whose services are the stack's own (``build_aws``) on
DynamoDB Local, with moto's SQS as the doorbell. Nothing in between is faked but API Gateway's
event mapping, which is written from its documentation below.
"""

from __future__ import annotations

import base64
import os
import shlex
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import httpx
import pytest
from botocore.credentials import Credentials

from functions.aws import api, dispatcher
from launchq.adapters.stores.dynamodb import create_table
from launchq.aws.settings import AwsSettings
from launchq.aws.wiring import build_aws
from launchq.bootstrap import Services
from launchq.cli.auth import AuthMode
from launchq.cli.sigv4 import AwsSigV4
from launchq.domain.models import RunUpdate
from launchq.domain.states import TERMINAL, RunState
from launchq.errors import Conflict, InvalidInput, NotFound, StaleWrite
from launchq.remote.client import AgentClient, agent_auth
from tests.functional.aws_harness import CTX, doorbell_event, load_event
from tests.loopback_http import LoopbackServer, QuietHandler
from tests.servers import stop_process
from tests.sigv4_proxy import MISMATCH, AccessKey, SigV4Proxy, Verifier

REGION = "us-east-1"
AGENT = "gpu-box-1"
LEASE = 60
LAUNCHQ = str(Path(sys.executable).parent / "launchq")
ENDED = {state.value for state in TERMINAL}


def http_api_event(method: str, target: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The payload-2.0 event API Gateway's HTTP API hands the Lambda for one request on the
    ``ANY /{proxy+}`` route: header names lower-cased, repeated headers and query parameters
    joined with commas, a body that is not UTF-8 base64-encoded."""
    parts = urlsplit(target)
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    event = load_event("http-api-proxy.json")
    event.update(
        routeKey="ANY /{proxy+}",
        rawPath=parts.path,
        rawQueryString=parts.query,
        queryStringParameters=query or None,
        pathParameters={"proxy": parts.path.lstrip("/")},
        headers=headers,
        cookies=None,
        stageVariables=None,
    )
    event["requestContext"].update(routeKey="ANY /{proxy+}", authorizer=None, authentication=None)
    event["requestContext"]["http"].update(method=method, path=parts.path)
    try:
        event.update(body=body.decode() if body else None, isBase64Encoded=False)
    except UnicodeDecodeError:
        event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
    return event


class LambdaIntegration(LoopbackServer):
    """API Gateway's Lambda proxy integration: each request in, the handler's answer out.

    One execution environment, which (as in Lambda) handles one event at a time: the agent's
    threads call concurrently, and the handler's resolver keeps per-event state.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self._one_at_a_time = threading.Lock()
        super().__init__(_integration_handler(self))

    def invoke(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        with self._one_at_a_time:
            answer = api.handler(http_api_event(method, target, headers, body), CTX, self.services)
        raw = answer.get("body") or ""
        payload = base64.b64decode(raw) if answer.get("isBase64Encoded") else raw.encode()
        return int(answer["statusCode"]), dict(answer.get("headers") or {}), payload


def _integration_handler(integration: LambdaIntegration) -> type[QuietHandler]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            self.answer(*integration.invoke(self.command, self.path, headers, self.read_body()))

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    return Handler


@dataclass
class Stack:
    services: Services
    gateway: SigV4Proxy
    doorbell_url: str
    api: httpx.Client  # the public routes, signed as the CLI signs them


@pytest.fixture
def stack(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The stack's API Lambda on DynamoDB Local, behind the SigV4-verifying gateway stand-in.

    The caller's key is the environment's (``aws_env``): the gateway knows it, with its session
    token, as IAM would know the workstation's credentials.
    """
    table = f"launchq-{uuid.uuid4().hex[:8]}"
    create_table(boto3.client("dynamodb"), table)
    doorbell_url = boto3.client("sqs").create_queue(QueueName=f"doorbell-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    monkeypatch.setenv("LAUNCHQ_TABLE_NAME", table)
    monkeypatch.setenv("LAUNCHQ_DOORBELL_QUEUE_URL", doorbell_url)
    monkeypatch.setenv("LAUNCHQ_ACCOUNT_ID", "123456789012")
    key = AccessKey(
        aws_env["AWS_ACCESS_KEY_ID"], aws_env["AWS_SECRET_ACCESS_KEY"], aws_env["AWS_SESSION_TOKEN"]
    )
    services = build_aws(AwsSettings())
    try:
        with (
            LambdaIntegration(services) as integration,
            SigV4Proxy(Verifier([key], REGION), integration.url) as gateway,
            httpx.Client(base_url=gateway.url, auth=signed(gateway.url), timeout=30) as public,
        ):
            yield Stack(services, gateway, doorbell_url, public)
    finally:
        boto3.client("dynamodb").delete_table(TableName=table)


def signed(url: str) -> httpx.Auth:
    """What `launchq agent --url URL` authenticates with, given no API key: the CLI's signer."""
    auth = agent_auth(url, None, AuthMode.AWS_IAM, None)
    assert isinstance(auth, AwsSigV4)
    return auth


def agents_queue_with_a_run(stack: Stack) -> str:
    """A `dispatch: agents` queue for the workstation's local processes, and one run on it."""
    created = stack.api.post(
        "/queues", json={"name": "gpu", "resource": "local-process", "dispatch": "agents", "max_jobs": 1}
    )
    assert created.status_code == 201, created.text
    enqueued = stack.api.post(
        "/queues/gpu/runs", json={"entry_point": ["python", "train.py"], "priority": "high"}
    )
    assert enqueued.status_code == 201, enqueued.text
    return str(enqueued.json()["id"])


def test_a_queue_the_stack_has_no_target_for_is_accepted_only_for_agents(stack: Stack) -> None:
    refused = stack.api.post("/queues", json={"name": "gpu", "resource": "local-process"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "resource"
    assert "set dispatch: agents to serve it from agents" in refused.json()["detail"]
    assert stack.api.get("/queues/gpu").status_code == 404  # nothing stored half-way


def test_an_agent_claims_reports_and_ships_its_log_through_the_signed_lambda(stack: Stack) -> None:
    # GIVEN an agents queue with a run, and the stack's own dispatcher woken by its doorbell
    run_id = agents_queue_with_a_run(stack)
    dispatcher.handler(doorbell_event(stack.doorbell_url), CTX, stack.services)
    assert stack.api.get(f"/runs/{run_id}").json()["state"] == "queued"  # it never claims for agents

    with AgentClient(stack.gateway.url, agent=AGENT, auth=signed(stack.gateway.url)) as agent:
        # WHEN the agent asks for work: Lambda cannot hold the request open, so it says so
        assert agent.wait(["gpu"], 5) == (["gpu"], False)
        # AND claims it
        claimed = agent.claim("gpu", LEASE)
        assert claimed is not None
        assert (claimed.id, claimed.state) == (run_id, RunState.CLAIMED)
        assert claimed.lease_expires_at is not None
        assert agent.claim("gpu", LEASE) is None  # max_jobs 1: the one slot is held
        assert agent.wait(["gpu"], 0) == ([], False)

        # AND renews its lease: later expiry, same version, no event
        renewed = agent.renew_lease(run_id, claimed.version, 600)
        assert renewed.version == claimed.version
        assert renewed.lease_expires_at is not None
        assert renewed.lease_expires_at > claimed.lease_expires_at

        # AND reports each move with the version it holds; the submit as the dispatcher writes it
        handle = {"pid": "4242", "host": "gpu-box-1"}
        submitted = (RunState.CLAIMED, RunState.STARTING, "submitted")
        update = RunUpdate(handle=handle, started_at=datetime.now(UTC), clear_lease=True)
        starting, replayed = agent.move(run_id, renewed.version, *submitted, update)
        assert (starting.state, starting.version, starting.handle, replayed) == (
            RunState.STARTING, renewed.version + 1, handle, False,
        )  # fmt: skip
        assert starting.lease_expires_at is None  # a submitted run holds no lease any more
        running, _ = agent.move(
            run_id, starting.version, RunState.STARTING, RunState.RUNNING, "process started"
        )

        # AND ships its job's log: appended, a retried chunk changes nothing, an overlap is trimmed
        assert agent.ship_log(run_id, 0, "epoch 1 loss 0.5\n") == 17
        assert agent.ship_log(run_id, 0, "epoch 1 loss 0.5\n") == 17
        assert agent.ship_log(run_id, 8, "loss 0.5\nepoch 2 loss 0.25\n") == 35

        exited = (RunState.RUNNING, RunState.FINISHED, "exit code 0")
        finished, _ = agent.move(run_id, running.version, *exited, RunUpdate(exit_code=0))
        # THEN the control plane has the run finished with its exit code, every move in order
        assert (finished.state, finished.exit_code) == (RunState.FINISHED, 0)
        run, events = agent.get_run(run_id)
        assert run.version == finished.version == len(events)
        assert [(e.from_state, e.to_state) for e in events] == [
            (None, RunState.QUEUED),
            (RunState.QUEUED, RunState.CLAIMED),
            (RunState.CLAIMED, RunState.STARTING),
            (RunState.STARTING, RunState.RUNNING),
            (RunState.RUNNING, RunState.FINISHED),
        ]
        # (a repeated query key, signed as sent: every value is in the signature)
        assert [r.id for r in agent.list_runs("gpu", [RunState.FAILED, RunState.FINISHED])] == [run_id]
        # AND the shipped log is what `launchq runs logs` shows (GET /runs/{id}/logs)
        logs = stack.api.get(f"/runs/{run_id}/logs")
        assert logs.status_code == 200, logs.text
        assert logs.json()["text"] == "epoch 1 loss 0.5\nepoch 2 loss 0.25\n"

        # WHEN the last report is retried (its answer was lost on the way)
        again, replayed = agent.move(run_id, running.version, *exited, RunUpdate(exit_code=0))
        # THEN it is answered as done, and nothing is written twice
        assert replayed is True
        assert again.version == finished.version
        assert len(agent.get_run(run_id)[1]) == len(events)

    # AND every request was signed by the workstation and verified by the gateway
    assert stack.gateway.refused == []
    assert any(r.target.startswith("/agents/runs/") for r in stack.gateway.verified)


def test_stale_and_forbidden_reports_get_a_4xx_and_change_nothing(stack: Stack) -> None:
    # GIVEN a run the agent claimed and started
    run_id = agents_queue_with_a_run(stack)
    with AgentClient(stack.gateway.url, agent=AGENT, auth=signed(stack.gateway.url)) as agent:
        claimed = agent.claim("gpu", LEASE)
        assert claimed is not None
        starting, _ = agent.move(run_id, claimed.version, RunState.CLAIMED, RunState.STARTING, "submitted")
        before = agent.get_run(run_id)

        # WHEN an agent reports from a version the run has left, with another move
        with pytest.raises(StaleWrite) as stale:
            agent.move(run_id, claimed.version, RunState.CLAIMED, RunState.FAILED, "lost the lease")
        assert stale.value.field == "version"
        # AND renews a lease at a version the run has left
        with pytest.raises(StaleWrite):
            agent.renew_lease(run_id, claimed.version, LEASE)
        # AND asks for a move the state machine forbids
        with pytest.raises(Conflict):
            agent.move(run_id, starting.version, RunState.STARTING, RunState.QUEUED, "back in line")
        # AND reports on a run that does not exist
        with pytest.raises(NotFound):
            agent.move("no-such-run", 1, RunState.CLAIMED, RunState.STARTING, "submitted")
        with pytest.raises(NotFound):
            agent.ship_log("no-such-run", 0, "text")

        # THEN the run is exactly as it was
        after = agent.get_run(run_id)
        assert after[0].model_dump() == before[0].model_dump()
        assert after[1] == before[1]


def test_unsigned_and_badly_signed_requests_are_refused_before_the_lambda(stack: Stack) -> None:
    # GIVEN a queued run
    run_id = agents_queue_with_a_run(stack)
    claim = {"agent": AGENT, "queue": "gpu", "lease_seconds": LEASE}

    # WHEN a claim arrives unsigned, and one signed with the wrong secret
    unsigned = httpx.post(f"{stack.gateway.url}/agents/claim", json=claim, timeout=30)
    key = stack.gateway.verifier.keys[0]
    forged = AwsSigV4(Credentials(key.access_key_id, "not-the-secret", key.session_token), REGION)
    with (
        AgentClient(stack.gateway.url, agent=AGENT, auth=forged) as impostor,
        pytest.raises(InvalidInput) as refused,
    ):
        impostor.claim("gpu", LEASE)

    # THEN both get API Gateway's 403, and neither reached the Lambda
    assert unsigned.status_code == 403
    assert unsigned.json() == {"message": "Forbidden"}
    assert refused.value.field == "auth"
    assert [reason for _, reason in stack.gateway.refused] == ["Forbidden", MISMATCH]
    assert "HTTP 403" in refused.value.detail
    # AND the run is still first in line: a signed agent gets it
    with AgentClient(stack.gateway.url, agent=AGENT, auth=signed(stack.gateway.url)) as agent:
        claimed = agent.claim("gpu", LEASE)
    assert claimed is not None
    assert claimed.id == run_id


def test_the_openapi_document_lists_the_agent_routes_under_their_tag(stack: Stack) -> None:
    spec = stack.api.get("/openapi.json")
    assert spec.status_code == 200, spec.text
    paths = spec.json()["paths"]
    for path, method in [
        ("/agents/claim", "post"),
        ("/agents/wait", "post"),
        ("/agents/runs", "get"),
        ("/agents/runs/{run_id}", "get"),
        ("/agents/runs/{run_id}/move", "post"),
        ("/agents/runs/{run_id}/lease", "post"),
        ("/agents/runs/{run_id}/logs", "post"),
    ]:
        assert paths[path][method]["tags"] == ["agents"], path


def test_a_workstation_joins_the_stack_with_three_commands(stack: Stack, tmp_path: Path) -> None:
    # GIVEN a workstation's shell: the stack's URL, AWS credentials, signing asked for (the
    # gateway stand-in is not an execute-api host), nothing else of launchq's
    shell = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHQ_")}
    shell.update(LAUNCHQ_URL=stack.gateway.url, LAUNCHQ_AUTH="aws-iam", HOME=str(tmp_path))

    def launchq(*argv: str) -> str:
        done = subprocess.run([LAUNCHQ, *argv], env=shell, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"launchq {' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    # WHEN it creates an agents queue and a run is launched onto it
    launchq("queue", "create", "gpu", "--resource", "local-process", "--dispatch", "agents")
    entry = shlex.join([sys.executable, "-c", "print('trained on the workstation')"])
    run_id = launchq("launch", "-q", "gpu", "-E", entry).strip()
    # AND the workstation's agent pulls from the stack
    log = tmp_path / "agent.log"
    with log.open("wb") as out:
        agent = subprocess.Popen(
            [LAUNCHQ, "agent", "--url", stack.gateway.url, "-q", "gpu", "--data-dir", str(tmp_path / "data")],
            env=shell,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # THEN the run is launched there and its end reported to the stack
        deadline = time.monotonic() + 90
        while (run := stack.api.get(f"/runs/{run_id}").json())["state"] not in ENDED:
            assert agent.poll() is None, f"the agent exited with {agent.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"run still {run['state']}:\n{log.read_text()}"
            time.sleep(0.2)
        assert (run["state"], run["exit_code"]) == ("finished", 0)
        # AND its output is what `launchq runs logs` shows from the stack
        deadline = time.monotonic() + 30
        while "trained on the workstation" not in launchq("runs", "logs", run_id):
            assert time.monotonic() < deadline, f"the log never reached the stack:\n{log.read_text()}"
            time.sleep(0.5)
    finally:
        stop_process(agent)
    # AND every request on the way was signed and verified
    assert stack.gateway.refused == []
    assert {r.target.split("?")[0] for r in stack.gateway.verified} >= {"/agents/claim", "/queues/gpu"}
