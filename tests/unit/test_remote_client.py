"""The agent's HTTP client: what it sends to the agent routes, and every error answer turned
into launchq's own error (the one translation table), against a real loopback HTTP server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from launchq.cli.auth import AuthMode
from launchq.domain.models import Run, RunSpec, RunUpdate
from launchq.domain.states import RunState
from launchq.errors import (
    AlreadyExists,
    BackendUnavailable,
    Conflict,
    InvalidInput,
    LaunchqError,
    NotFound,
    StaleWrite,
)
from launchq.remote.client import AgentClient, BearerAuth, agent_auth, is_loopback
from tests.servers import free_port
from tests.unit.cli_fake_server import FakeApi

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _run(run_id: str = "r1", state: RunState = RunState.CLAIMED, version: int = 2) -> dict[str, Any]:
    run = Run(
        id=run_id, queue="gpu", entity="local", spec=RunSpec(entry_point=["true"]), state=state,
        version=version, created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    return run.model_dump(mode="json")


def _client(fake: FakeApi, **kwargs: Any) -> AgentClient:
    return AgentClient(fake.url, agent="gpu-box-1", retry_pauses=(), **kwargs)


# -- requests ---------------------------------------------------------------------------------
def test_claim_sends_the_agent_queue_and_lease_and_parses_the_run(fake: FakeApi) -> None:
    fake.reply("POST", "/agents/claim", 200, {"run": _run()})
    fake.reply("POST", "/agents/claim", 200, {"run": None})
    with _client(fake) as client:
        run = client.claim("gpu", 120)
        nothing = client.claim("gpu", 120)
    assert run is not None
    assert (run.id, run.state, run.version) == ("r1", RunState.CLAIMED, 2)
    assert nothing is None
    assert fake.calls("POST", "/agents/claim")[0].body == {
        "agent": "gpu-box-1",
        "queue": "gpu",
        "lease_seconds": 120,
    }


def test_move_sends_version_states_and_only_the_fields_set(fake: FakeApi) -> None:
    fake.reply(
        "POST",
        "/agents/runs/r1/move",
        200,
        {"run": _run(state=RunState.STARTING, version=3), "replayed": True},
    )
    with _client(fake) as client:
        run, replayed = client.move(
            "r1",
            2,
            RunState.CLAIMED,
            RunState.STARTING,
            "submitted",
            RunUpdate(handle={"pid": "7"}, clear_lease=True),
        )
    assert (run.state, run.version, replayed) == (RunState.STARTING, 3, True)
    assert fake.calls("POST", "/agents/runs/r1/move")[0].body == {
        "agent": "gpu-box-1", "version": 2, "from_state": "claimed", "to_state": "starting",
        "reason": "submitted", "update": {"handle": {"pid": "7"}, "clear_lease": True},
    }  # fmt: skip


def test_list_runs_repeats_the_state_parameter(fake: FakeApi) -> None:
    fake.reply("GET", "/agents/runs", 200, {"runs": [_run("r2"), _run("r1")]})
    with _client(fake) as client:
        runs = client.list_runs("gpu", [RunState.STARTING, RunState.RUNNING], limit=50)
    assert [r.id for r in runs] == ["r2", "r1"]
    assert fake.calls("GET", "/agents/runs")[0].query == {
        "queue": ["gpu"], "limit": ["50"], "state": ["starting", "running"]
    }  # fmt: skip


def test_get_queue_drops_the_counts_from_the_queue_and_returns_them(fake: FakeApi) -> None:
    body = {"name": "gpu", "resource": "local-process", "created_at": NOW.isoformat(), "max_jobs": 2,
            "dispatch": "agents", "active": 1, "queued": 7}  # fmt: skip
    fake.reply("GET", "/queues/gpu", 200, body)
    with _client(fake) as client:
        queue, active, queued = client.get_queue("gpu")
    assert (queue.name, queue.max_jobs, queue.dispatch, active, queued) == ("gpu", 2, "agents", 1, 7)


def test_wait_and_ship_log_answers(fake: FakeApi) -> None:
    fake.reply("POST", "/agents/wait", 200, {"queues": ["gpu"], "long_poll": False})
    fake.reply("POST", "/agents/runs/r1/logs", 200, {"end": 12})
    with _client(fake) as client:
        assert client.wait(["gpu", "cpu"], 20) == (["gpu"], False)
        assert client.ship_log("r1", 5, "hello\n") == 12
    assert fake.calls("POST", "/agents/wait")[0].body == {
        "agent": "gpu-box-1",
        "queues": ["gpu", "cpu"],
        "wait_seconds": 20,
    }
    assert fake.calls("POST", "/agents/runs/r1/logs")[0].body == {
        "agent": "gpu-box-1",
        "offset": 5,
        "text": "hello\n",
    }


# -- errors -----------------------------------------------------------------------------------
def _err(error: str, detail: str, field: str | None = None) -> dict[str, Any]:
    """An error body as the API writes it: ``detail`` starts with ``field: `` when there is one."""
    return {"error": error, "detail": f"{field}: {detail}" if field else detail, "field": field}


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (404, _err("not_found", "run 'r1' does not exist", "run"), NotFound),
        (409, _err("conflict", "run 'r1' is at version 4", "version"), StaleWrite),
        (409, _err("conflict", "run 'r1' is queued", "state"), StaleWrite),
        (409, _err("conflict", "dispatched by the server", "queue"), Conflict),
        (409, _err("conflict", "cannot move a run from finished to running"), Conflict),
        (409, _err("already_exists", "taken", "queue"), AlreadyExists),
        (422, _err("invalid_input", "must be >= 10", "lease_seconds"), InvalidInput),
        (503, _err("unavailable", "database is locked"), BackendUnavailable),
    ],
)
def test_error_answers_become_launchq_errors(
    fake: FakeApi, status: int, body: dict[str, Any], kind: type[LaunchqError]
) -> None:
    fake.reply("POST", "/agents/runs/r1/move", status, body)
    with _client(fake) as client, pytest.raises(LaunchqError) as caught:
        client.move("r1", 3, RunState.CLAIMED, RunState.STARTING, "submitted")
    assert type(caught.value) is kind
    assert caught.value.field == body["field"]
    assert str(caught.value).endswith(body["detail"])
    assert f"{body['field']}: {body['field']}:" not in str(caught.value)  # the API's prefix is not doubled


def test_a_conflict_the_state_machine_forbids_is_not_a_stale_write(fake: FakeApi) -> None:
    fake.reply(
        "POST", "/agents/runs/r1/move", 409, {"error": "conflict", "detail": "not allowed", "field": None}
    )
    with _client(fake) as client, pytest.raises(Conflict) as caught:
        client.move("r1", 3, RunState.FINISHED, RunState.RUNNING, "again")
    assert not isinstance(caught.value, StaleWrite)


def test_an_api_gateway_refusal_names_the_credentials(fake: FakeApi) -> None:
    fake.reply("GET", "/queues/gpu", 403, {"message": "Forbidden"})
    with _client(fake) as client, pytest.raises(InvalidInput) as caught:
        client.get_queue("gpu")
    assert caught.value.field == "auth"
    assert "HTTP 403: Forbidden" in str(caught.value)
    assert "--api-key" in str(caught.value)


def test_a_5xx_without_json_and_a_broken_answer_are_backend_unavailable(fake: FakeApi) -> None:
    fake.reply("POST", "/agents/claim", 502, None)
    fake.reply("POST", "/agents/wait", 200, {"no": "queues"})
    with _client(fake) as client:
        with pytest.raises(BackendUnavailable, match="HTTP 502"):
            client.claim("gpu", 60)
        with pytest.raises(BackendUnavailable, match="unexpected answer"):
            client.wait(["gpu"], 0)


def test_nothing_listening_is_backend_unavailable() -> None:
    client = AgentClient(f"http://127.0.0.1:{free_port()}", agent="a", retry_pauses=())
    with client, pytest.raises(BackendUnavailable, match="cannot reach the control plane"):
        client.claim("gpu", 60)


def test_reports_are_retried_after_a_transport_error_and_claims_are_not() -> None:
    calls: list[str] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) % 2 == 1:
            raise httpx.ConnectError("reset", request=request)
        return httpx.Response(200, json={"run": _run(state=RunState.CLAIMED, version=2)})

    client = AgentClient("http://cp.test", agent="a", transport=httpx.MockTransport(flaky), retry_pauses=(0,))
    assert client.renew_lease("r1", 2, 60).version == 2
    assert calls == ["/agents/runs/r1/lease", "/agents/runs/r1/lease"]
    with pytest.raises(BackendUnavailable):
        client.claim("gpu", 60)
    assert calls[2:] == ["/agents/claim"]


def test_bad_url_and_agent_id_are_refused() -> None:
    with pytest.raises(InvalidInput) as url:
        AgentClient("ftp://cp", agent="a")
    with pytest.raises(InvalidInput) as agent:
        AgentClient("http://127.0.0.1:1", agent="not an id!")
    assert (url.value.field, agent.value.field) == ("--url", "agent")


# -- auth -------------------------------------------------------------------------------------
def test_the_api_key_goes_as_a_bearer_header_and_never_into_a_repr(fake: FakeApi) -> None:
    fake.reply("POST", "/agents/claim", 200, {"run": None})
    auth = agent_auth(fake.url, "s3cret-key", AuthMode.AUTO, None)
    assert isinstance(auth, BearerAuth)
    with _client(fake, auth=auth) as client:
        client.claim("gpu", 60)
    assert fake.calls("POST", "/agents/claim")[0].headers["authorization"] == "Bearer s3cret-key"
    assert "s3cret" not in repr(auth)


@pytest.mark.parametrize("url", ["http://gpu.example.com:8080", "http://10.0.0.5", "http://[fe80::1]:80"])
def test_an_api_key_over_plain_http_to_another_host_is_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        agent_auth(url, "k", AuthMode.AUTO, None)
    assert caught.value.field == "--api-key"
    assert "plain http://" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["https://launchq.example.com", "http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"],
)
def test_an_api_key_over_https_or_to_this_machine_is_allowed(url: str) -> None:
    assert isinstance(agent_auth(url, "k", AuthMode.AUTO, None), BearerAuth)


def test_an_api_key_with_aws_signing_is_refused_and_no_key_means_no_auth() -> None:
    with pytest.raises(InvalidInput, match="Authorization header"):
        agent_auth("https://cp.example.com", "k", AuthMode.AWS_IAM, None)
    assert agent_auth("http://127.0.0.1:8080", None, AuthMode.AUTO, None) is None
    assert agent_auth("http://127.0.0.1:8080", "", AuthMode.NONE, None) is None


def test_loopback_hosts() -> None:
    assert all(
        is_loopback(h) for h in ["localhost", "LOCALHOST.", "127.0.0.1", "127.1.2.3", "::1", "a.localhost"]
    )
    assert not any(
        is_loopback(h) for h in ["example.com", "10.0.0.1", "localhost.example.com", "", "0.0.0.0"]
    )
