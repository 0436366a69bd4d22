"""The one Router under API Gateway's HTTP API event shape (the API Lambda's resolver).

The services here are the embedded ones: routing, validation and error mapping do not
depend on the store, and the AWS-wired flow is in test_aws_flow.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from functions.aws.api import handler
from launchq.bootstrap import Services
from launchq.local.settings import LocalSettings
from launchq.local.wiring import build_local
from tests.functional.lambda_context import LambdaContext

CTX = LambdaContext()
EVENT = json.loads((Path(__file__).parents[1] / "events" / "http-api-proxy.json").read_text())


def _event(method: str, path: str, body: Any = None, query: str = "") -> dict[str, Any]:
    event = copy.deepcopy(EVENT)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["rawQueryString"] = query
    event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&") if p)
    event["body"] = json.dumps(body) if body is not None else None
    event["isBase64Encoded"] = False
    return event


@pytest.fixture
def services(tmp_path: Path) -> Services:
    return build_local(LocalSettings(data_dir=tmp_path))


def test_create_queue_enqueue_and_read_back_through_lambda(services: Services) -> None:
    created = handler(
        _event("POST", "/queues", {"name": "q", "resource": "local-process", "max_jobs": 2}), CTX, services
    )
    assert created["statusCode"] == 201, created["body"]

    enq = handler(
        _event("POST", "/queues/q/runs", {"entry_point": "python x.py", "priority": "high"}), CTX, services
    )
    assert enq["statusCode"] == 201
    run = json.loads(enq["body"])
    assert (run["state"], run["priority"], run["position"]) == ("queued", "high", 1)

    listed = handler(_event("GET", "/runs", query="queue=q&state=queued"), CTX, services)
    assert [r["id"] for r in json.loads(listed["body"])["runs"]] == [run["id"]]
    shown = json.loads(handler(_event("GET", f"/runs/{run['id']}"), CTX, services)["body"])
    assert shown["spec"]["entry_point"] == ["python", "x.py"]


def test_user_mistakes_are_4xx_json_through_lambda(services: Services) -> None:
    bad = handler(_event("POST", "/queues", {"name": "q", "resource": "nope"}), CTX, services)
    assert bad["statusCode"] == 422
    assert json.loads(bad["body"])["field"] == "resource"
    missing = handler(_event("GET", "/runs/none"), CTX, services)
    assert missing["statusCode"] == 404
    assert json.loads(missing["body"])["error"] == "not_found"


def test_openapi_lists_every_route(services: Services) -> None:
    spec = json.loads(handler(_event("GET", "/openapi.json"), CTX, services)["body"])
    assert {
        "/queues",
        "/queues/{name}",
        "/queues/{name}/runs",
        "/runs",
        "/runs/{run_id}",
        "/runs/{run_id}/logs",
        "/runs/{run_id}/stop",
        "/schedules",
        "/schedules/{name}",
        "/healthz",
    } <= set(spec["paths"])
    body = spec["paths"]["/queues/{name}/runs"]["post"]["requestBody"]
    assert body["required"] is True
