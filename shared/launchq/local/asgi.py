"""The local server's ASGI adapter: uvicorn in front, Lambda's own resolver behind.

Why not Powertools' ``HttpResolverLocal``: it runs each synchronous middleware in
``asyncio.to_thread`` and blocks that pool thread waiting for the next middleware, which
needs another pool thread; with about six requests in flight every pool thread waits on
the pool and the server hangs for good, ``/healthz`` included.

Here uvicorn reads each request asynchronously (a slow or stalled client costs a
coroutine, never a thread), the request becomes the API Gateway HTTP API (v2) event that
Lambda would receive, and the synchronous resolver Lambda runs handles it from start to
finish in exactly one worker thread of a bounded pool. Nothing that runs in the pool waits
on the pool, so no number of requests can starve it; requests past the pool's size wait
their turn as coroutines. Each worker thread has its own resolver (built once per thread
from the one Router), because Powertools keeps a request's state on the resolver.

The body is read with a bound, the route's ``body_limit`` (or ``max_body_bytes`` when given):
past it (or past a ``Content-Length`` that says so) the answer is 413 without reading the
rest; a body that does not arrive within ``body_timeout`` seconds is answered 408. Both
close the connection.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from launchq.api.gateway_event import HttpRequest, error_result, http_api_event, result_body, result_headers
from launchq.api.limits import body_limit

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

WORKERS = 8
"""Threads resolving requests at once; more requests wait as coroutines, holding no thread."""

BODY_TIMEOUT_SECONDS = 30.0
"""How long a client may take to send its whole body before it is answered 408."""


@dataclass
class _Refusal(Exception):
    """A request refused before it reaches the resolver (the body is too big or too slow)."""

    status: HTTPStatus
    error: str
    detail: str


_SHUTTING_DOWN = _Refusal(
    HTTPStatus.SERVICE_UNAVAILABLE, "unavailable", "the server is shutting down; send the request again"
)


class LocalLambdaContext(LambdaContext):
    """What the resolver is handed as its Lambda context: the request id, nothing of AWS."""

    def __init__(self, request_id: str) -> None:
        self._aws_request_id = request_id
        self._function_name = "launchq-local"


class ResolverPool:
    """A bounded pool of worker threads, each with its own resolver built by ``factory``."""

    def __init__(self, factory: Callable[[], APIGatewayHttpResolver], workers: int = WORKERS) -> None:
        self._factory = factory
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="launchq-http")

    def _resolve(self, event: dict[str, Any]) -> dict[str, Any]:
        resolver: APIGatewayHttpResolver | None = getattr(self._local, "resolver", None)
        if resolver is None:
            resolver = self._local.resolver = self._factory()
        context = LocalLambdaContext(event["requestContext"]["requestId"])
        return resolver.resolve(event, context)

    async def resolve(self, event: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._resolve, event)

    def close(self) -> None:
        """Stop taking work; requests already in a thread finish on their own."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class LocalAsgiApp:
    """The ASGI application ``launchq serve`` hands to uvicorn."""

    def __init__(
        self,
        pool: ResolverPool,
        max_body_bytes: int | None = None,
        body_timeout: float = BODY_TIMEOUT_SECONDS,
    ) -> None:
        self.pool = pool
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await self._read_body(scope, receive)
        except _Refusal as refusal:
            await _send_refusal(send, refusal)
            return
        except asyncio.CancelledError:
            # uvicorn cancels requests still waiting for their body once a shutdown's grace
            # period is over. Nothing was done for them: say so, and let the task end here.
            await _send_refusal(send, _SHUTTING_DOWN)
            return
        if body is None:  # the client went away mid-request: nobody to answer
            return
        try:
            result = await self.pool.resolve(to_event(scope, body))
        except Exception:  # the resolver maps every error itself; this is a bug in the adapter
            incident = uuid.uuid4().hex[:12]
            log.exception("internal error %s", incident)
            detail = f"internal error; see the server log for {incident}"
            result = error_result(HTTPStatus.INTERNAL_SERVER_ERROR, "internal", detail)
        await send_result(send, result)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        limit = self.max_body_bytes or body_limit(scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            raise _too_large(limit)
        try:
            async with asyncio.timeout(self.body_timeout):
                return await self._receive_body(receive, limit)
        except TimeoutError:
            raise _Refusal(
                HTTPStatus.REQUEST_TIMEOUT,
                "request_timeout",
                f"the request body did not arrive within {self.body_timeout:g} seconds",
            ) from None

    async def _receive_body(self, receive: Receive, limit: int) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _too_large(limit: int) -> _Refusal:
    return _Refusal(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        "payload_too_large",
        f"the request body is larger than the limit of {limit} bytes",
    )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length" and value.strip().isdigit():
            return int(value)
    return None


def to_event(scope: Scope, body: bytes) -> dict[str, Any]:
    """The API Gateway HTTP API (payload 2.0) event for one ASGI HTTP request (``gateway_event``)."""
    client = scope.get("client") or ("127.0.0.1", 0)
    raw_path = scope.get("raw_path") or scope["path"].encode()
    request = HttpRequest(
        method=scope["method"],
        path=scope["path"],
        raw_path=raw_path.decode("latin-1"),
        query_string=scope.get("query_string", b"").decode("latin-1"),
        headers=[(n.decode("latin-1"), v.decode("latin-1")) for n, v in scope.get("headers", [])],
        body=body,
        source_ip=client[0],
        protocol=f"HTTP/{scope.get('http_version', '1.1')}",
    )
    return http_api_event(request)


async def _send_refusal(send: Send, refusal: _Refusal) -> None:
    result = error_result(refusal.status, refusal.error, refusal.detail, "body")
    # The rest of the body is never read, so the connection cannot carry another request.
    result["headers"]["connection"] = "close"
    await send_result(send, result)


async def send_result(send: Send, result: dict[str, Any]) -> None:
    """Write a resolver's result (status, headers, cookies, text or base64 body) to the client."""
    body = result_body(result)
    headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in result_headers(result, len(body))]
    status = int(result.get("statusCode", 200))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
