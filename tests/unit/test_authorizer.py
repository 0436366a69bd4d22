"""The AWS Lambda authorizer (``ApiAuth=API_KEY``) and the API function that trusts its answer.

The authorizer gets API Gateway's REQUEST event (payload 2.0, as documented for HTTP APIs:
https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html)
and answers a simple response; API Gateway then hands the API function that answer's context in
``requestContext.authorizer.lambda``. Both halves run here on a real SQLite store.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from functions.aws import api as api_function
from functions.aws.authorizer import handler as authorizer_handler
from launchq.bootstrap import Services
from launchq.domain.api_keys import Role
from launchq.local.settings import LocalSettings
from launchq.local.wiring import build_local
from launchq.service.api_keys import KeyService
from tests.functional.lambda_context import LambdaContext

CTX = LambdaContext()
API_EVENT = json.loads((Path(__file__).parents[1] / "events" / "http-api-proxy.json").read_text())


def authorizer_event(authorization: str | None) -> dict[str, Any]:
    headers = {"host": "abc123.execute-api.us-east-1.amazonaws.com"}
    if authorization is not None:
        headers["Authorization"] = authorization  # API Gateway lower-cases; the authorizer must not care
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:us-east-1:123456789012:abc123/$default/GET/queues",
        "identitySource": [authorization or ""],
        "routeKey": "ANY /{proxy+}",
        "rawPath": "/queues",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {"http": {"method": "GET", "path": "/queues"}, "requestId": "r1"},
    }


@pytest.fixture
def services(tmp_path: Path) -> Services:
    return build_local(LocalSettings(data_dir=tmp_path))


@pytest.fixture
def keys(services: Services) -> KeyService:
    return KeyService(services.ctx.store)


def test_a_live_key_is_authorized_with_its_entity_and_role(keys: KeyService) -> None:
    record, token = keys.create("team-a", Role.SUBMIT, "ci")
    answer = authorizer_handler(authorizer_event(f"Bearer {token}"), CTX, keys)
    assert answer == {
        "isAuthorized": True,
        "context": {"entity": "team-a", "role": "submit", "key_id": record.id},
    }
    # the scheme's case does not matter (RFC 7235)
    assert authorizer_handler(authorizer_event(f"bearer {token}"), CTX, keys)["isAuthorized"] is True


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer lq_nothex_abc", "Bearer lq_0123456789ab_" + "x" * 43],
    ids=["absent", "empty", "no-token", "basic", "malformed", "unknown"],
)
def test_anything_but_a_live_key_is_denied(keys: KeyService, header: str | None) -> None:
    keys.create("team-a", Role.ADMIN)  # a key exists; none of these is it
    assert authorizer_handler(authorizer_event(header), CTX, keys) == {"isAuthorized": False}


def test_a_wrong_secret_and_a_revoked_key_are_denied(keys: KeyService) -> None:
    record, token = keys.create("team-a", Role.READ)
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert authorizer_handler(authorizer_event(f"Bearer {forged}"), CTX, keys)["isAuthorized"] is False
    assert authorizer_handler(authorizer_event(f"Bearer {token}"), CTX, keys)["isAuthorized"] is True
    keys.revoke(record.id)
    # the very next call sees the revoke: nothing is cached between calls
    assert authorizer_handler(authorizer_event(f"Bearer {token}"), CTX, keys)["isAuthorized"] is False


def api_event(method: str, path: str, context: dict[str, Any] | None, body: Any = None) -> dict[str, Any]:
    """The API function's event as API Gateway sends it after the authorizer said yes."""
    event = copy.deepcopy(API_EVENT)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["rawQueryString"] = ""
    event["queryStringParameters"] = {}
    event["body"] = json.dumps(body) if body is not None else None
    event["isBase64Encoded"] = False
    event["requestContext"]["authorizer"] = {"lambda": context} if context is not None else {}
    return event


def test_the_api_function_scopes_each_call_to_the_authorizers_entity_and_role(
    services: Services, keys: KeyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a stack deployed with ApiAuth=API_KEY, and keys of two entities
    monkeypatch.setenv("LAUNCHQ_API_AUTH", "API_KEY")
    contexts = {}
    for name, entity, role in (
        ("a", "team-a", Role.ADMIN),
        ("b", "team-b", Role.ADMIN),
        ("r", "team-a", Role.READ),
    ):
        _, token = keys.create(entity, role)
        answer = authorizer_handler(authorizer_event(f"Bearer {token}"), CTX, keys)
        contexts[name] = answer["context"]

    def call(method: str, path: str, who: str | None, body: Any = None) -> dict[str, Any]:
        context = contexts[who] if who else None
        result: dict[str, Any] = api_function.handler(api_event(method, path, context, body), CTX, services)
        return result

    # WHEN each entity's admin creates a queue
    assert call("POST", "/queues", "a", {"name": "qa", "resource": "local-process"})["statusCode"] == 201
    assert call("POST", "/queues", "b", {"name": "qb", "resource": "local-process"})["statusCode"] == 201
    # THEN each queue belongs to its creator's entity, and the other entity cannot see it
    assert json.loads(call("GET", "/queues/qa", "a")["body"])["entity"] == "team-a"
    assert call("GET", "/queues/qb", "a")["statusCode"] == 404
    listed = json.loads(call("GET", "/queues", "a")["body"])["queues"]
    assert [q["name"] for q in listed] == ["qa"]
    # AND a read key cannot create, and a request the authorizer did not vouch for is 401
    assert call("POST", "/queues", "r", {"name": "q2", "resource": "local-process"})["statusCode"] == 403
    assert call("GET", "/queues", None)["statusCode"] == 401
