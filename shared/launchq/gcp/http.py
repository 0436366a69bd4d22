"""The Google Cloud HTTP function's door: a flask request in, the one resolver, a flask response out.

Cloud Functions hand the function a flask ``Request``; it becomes the API Gateway HTTP API
(v2) event that Lambda and the local server hand the same resolver (``api.gateway_event``),
so every route, its validation and its error bodies are the same code on every cloud.

functions-framework serves a function from one process with several threads (gunicorn's
gthread worker; Cloud Run instances take many requests at once), and Powertools keeps the
request being resolved on the resolver, so each thread gets a resolver of its own
(``local_app``: the thread-safe resolver the local server's pool uses).

The body is read with the route's bound (``body_limit``): a longer body, or a ``Content-Length``
that says so, is answered 413 naming the body (``read_body``).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from flask import Request, Response

from launchq.api.gateway_event import HttpRequest, error_result, http_api_event, result_body, result_headers
from launchq.api.limits import body_limit
from launchq.api.thread_resolvers import ThreadResolvers
from launchq.bootstrap import Services

__all__ = ["HttpDoor"]

log = logging.getLogger(__name__)


class HttpDoor:
    """Serves flask requests with one resolver per thread, all over one ``Services``."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._resolvers = ThreadResolvers(services, "launchq-gcp-api")

    def __call__(self, request: Request) -> Response:
        body = read_body(request, body_limit(request.method, request.path))
        if isinstance(body, int):
            detail = f"the request body is larger than the limit of {body} bytes"
            result = error_result(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", detail, "body")
            result["headers"]["connection"] = "close"
            return to_response(result)
        event = http_api_event(
            HttpRequest(
                method=request.method,
                path=request.path,
                raw_path=raw_path(request),
                query_string=request.query_string.decode("latin-1"),
                headers=list(request.headers.items()),
                body=body,
                source_ip=request.remote_addr or "0.0.0.0",  # noqa: S104 - a value, not a bind
                protocol=request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            ),
            api_id="gcp",
        )
        result = self._resolvers.resolve(event)
        return to_response(result)


def read_body(request: Request, limit: int) -> bytes | int:
    """The body, or ``limit`` when it is longer: refused on its ``Content-Length`` before a byte
    is read, else after ``limit + 1`` bytes (a chunked body that never says its length).

    Read from the stream rather than with ``max_content_length``: functions-framework reads
    every request whole after the function answers, and a limit set on the request would
    make that read raise (a 500) after the 413 was written."""
    declared = request.content_length
    if declared is not None and declared > limit:
        return limit
    body = request.stream.read(limit + 1)
    return limit if len(body) > limit else body


def raw_path(request: Request) -> str:
    """The path as the client sent it (percent-encoded), as API Gateway's ``rawPath`` is:
    gunicorn's ``RAW_URI`` (werkzeug's dev server: ``REQUEST_URI``), else the decoded path
    quoted again."""
    uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if isinstance(uri, str) and uri.startswith("/"):
        return uri.split("?", 1)[0]
    return quote(request.path)


def to_response(result: dict[str, Any]) -> Response:
    """A flask response carrying a resolver's result (status, headers, cookies, body)."""
    body = result_body(result)
    response = Response(body, status=int(result.get("statusCode", 200)))
    response.headers.clear()  # flask's default content-type would stand beside the result's
    for name, value in result_headers(result, len(body)):
        response.headers.add(name, value)
    return response
