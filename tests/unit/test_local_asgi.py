"""The local server's adapter: ASGI request -> HTTP API v2 event -> resolver -> ASGI response,
and why each worker thread needs a resolver of its own."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Callable
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.router import Router
from aws_lambda_powertools.shared.cookies import Cookie
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from launchq.api.app import LocalHttpResolver
from launchq.local.asgi import LocalAsgiApp, LocalLambdaContext, ResolverPool, to_event


def _scope(
    method: str, path: str, query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": headers or [],
        "http_version": "1.1",
        "client": ("127.0.0.1", 5000),
    }


def test_a_request_becomes_the_event_api_gateway_would_send() -> None:
    headers = [
        (b"Content-Type", b"application/json"),
        (b"x-tag", b"a"),
        (b"x-tag", b"b"),
        (b"cookie", b"session=1; theme=dark"),
    ]
    event = APIGatewayProxyEventV2(
        to_event(_scope("POST", "/queues/q/runs", b"a=1&a=2&b=", headers), b"\xff\x00")
    )

    assert event.path == "/queues/q/runs"
    assert event.http_method == "POST"
    assert event.headers == {"content-type": "application/json", "x-tag": "a,b"}
    assert event.cookies == ["session=1", "theme=dark"]
    assert event.query_string_parameters == {"a": "1,2", "b": ""}
    assert event.raw_query_string == "a=1&a=2&b="
    assert event.is_base64_encoded
    assert base64.b64decode(event["body"]) == b"\xff\x00"
    assert event.request_context.stage == "$default"


def test_a_utf8_body_is_sent_as_text_and_an_empty_one_as_none() -> None:
    assert to_event(_scope("POST", "/x"), '{"é": 1}'.encode())["body"] == '{"é": 1}'
    assert to_event(_scope("GET", "/x"), b"")["body"] is None


def _echo_router(pause: threading.Barrier | None = None) -> Router:
    router = Router()

    @router.get("/echo/<name>")
    def echo(name: str) -> dict[str, str]:
        if pause is not None:
            pause.wait(5)  # every thread is now inside a request at once
        return {"param": name, "path": router.current_event.path}

    @router.get("/binary")
    def binary() -> Response[bytes]:
        cookies = [Cookie(name="a", value="1"), Cookie(name="b", value="2")]
        return Response(200, "application/octet-stream", b"\x00\xffbin", cookies=cookies)

    return router


def _resolve_at_once(factory: Callable[[], APIGatewayHttpResolver], count: int) -> list[dict[str, Any]]:
    """``count`` threads, each with its own resolver, resolving different paths at the same time."""
    pause = threading.Barrier(count)
    answers: list[dict[str, Any]] = [{} for _ in range(count)]

    def worker(i: int) -> None:
        app = factory()
        app.include_router(_echo_router(pause))
        event = to_event(_scope("GET", f"/echo/n{i}"), b"")
        answers[i] = app.resolve(event, LocalLambdaContext(str(i)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return answers


def test_powertools_shares_the_current_event_between_resolvers_so_each_thread_needs_its_own() -> None:
    # GIVEN Lambda's resolver class as it is: the event being resolved lives on the class
    answers = _resolve_at_once(APIGatewayHttpResolver, 4)
    # THEN concurrent requests in separate threads read each other's event
    mixed = [a for i, a in enumerate(answers) if f'"path":"/echo/n{i}"' not in a["body"]]
    assert mixed, "Powertools no longer shares request state; LocalHttpResolver may be unnecessary"


def test_local_resolvers_keep_each_request_to_itself() -> None:
    answers = _resolve_at_once(LocalHttpResolver, 4)
    assert [a["body"] for a in answers] == [f'{{"param":"n{i}","path":"/echo/n{i}"}}' for i in range(4)]


def _call(app: LocalAsgiApp, scope: dict[str, Any], chunks: list[bytes]) -> list[dict[str, Any]]:
    """One ASGI request through ``app``; returns what it sent."""
    incoming = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


@pytest.fixture
def asgi() -> LocalAsgiApp:
    def factory() -> APIGatewayHttpResolver:
        app = LocalHttpResolver()
        app.include_router(_echo_router())
        return app

    return LocalAsgiApp(ResolverPool(factory, workers=2), max_body_bytes=10)


def test_the_resolvers_answer_is_written_back_cookies_and_binary_bodies_too(asgi: LocalAsgiApp) -> None:
    start, body = _call(asgi, _scope("GET", "/binary"), [b""])
    assert start["status"] == 200
    assert [v for k, v in start["headers"] if k == b"set-cookie"] == [b"a=1; Secure", b"b=2; Secure"]
    assert (b"content-type", b"application/octet-stream") in start["headers"]
    assert (b"content-length", b"5") in start["headers"]
    assert body["body"] == b"\x00\xffbin"


def test_a_body_past_the_limit_is_413_before_the_resolver_sees_it(asgi: LocalAsgiApp) -> None:
    start, body = _call(asgi, _scope("POST", "/echo/x"), [b"123456", b"78901"])
    assert start["status"] == 413
    assert b'"field": "body"' in body["body"]
    declared = _call(asgi, _scope("POST", "/echo/x", headers=[(b"content-length", b"11")]), [])
    assert declared[0]["status"] == 413
