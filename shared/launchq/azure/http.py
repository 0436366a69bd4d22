"""The Azure HTTP function's door: a ``func.HttpRequest`` in, the one resolver, a ``func.HttpResponse`` out.

The Functions host hands the function a request it has read whole; it becomes the API Gateway
HTTP API (v2) event that Lambda, the local server and the Google Cloud function hand the same
resolver (``api.gateway_event``), so every route, its validation and its error bodies are the
same code on every cloud. ``host.json`` sets ``routePrefix`` to "" so paths are launchq's own
(``/queues``, not ``/api/queues``).

Synchronous Python functions run on the worker's thread pool, and Powertools keeps the request
being resolved on the resolver, so each thread gets a resolver of its own (``local_app``, the
one the local server's pool uses). The body is bounded by the route's limit (``body_limit``):
longer is a 413 naming the body, before anything is parsed.

Authentication is launchq's API keys (``AuthMode.KEYS``, ``LAUNCHQ_AUTH=keys``, the default):
the function is anonymous to Azure, as ``launchq serve --auth keys`` is to its network, so the
CLI's ``LAUNCHQ_API_KEY`` works unchanged and keys carry roles and entities, which a Function
key (one shared secret per app) cannot.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode, urlsplit

from launchq.api.auth import AuthMode
from launchq.api.gateway_event import HttpRequest, error_result, http_api_event, result_body, result_headers
from launchq.api.limits import body_limit
from launchq.api.thread_resolvers import ThreadResolvers
from launchq.bootstrap import Services

if TYPE_CHECKING:
    import azure.functions as func

__all__ = ["HttpDoor"]

log = logging.getLogger(__name__)


class HttpDoor:
    """Serves ``func.HttpRequest``s with one resolver per thread, all over one ``Services``."""

    def __init__(self, services: Services, auth: AuthMode = AuthMode.KEYS) -> None:
        self.services = services
        self.auth = auth
        self._resolvers = ThreadResolvers(services, "launchq-azure-api", auth)

    def __call__(self, request: func.HttpRequest) -> func.HttpResponse:
        url = urlsplit(request.url)
        raw_path = url.path or "/"
        path = unquote(raw_path)
        body = request.get_body() or b""
        limit = body_limit(request.method, path)
        if len(body) > limit:
            detail = f"the request body is larger than the limit of {limit} bytes"
            return to_response(
                error_result(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", detail, "body")
            )
        event = http_api_event(
            HttpRequest(
                method=request.method.upper(),
                path=path,
                raw_path=raw_path,
                query_string=url.query or urlencode(dict(request.params)),
                headers=list(request.headers.items()),
                body=body,
                source_ip=client_ip(request.headers.get("x-forwarded-for", "")),
            ),
            api_id="azure",
        )
        result = self._resolvers.resolve(event)
        return to_response(result)


def client_ip(forwarded: str) -> str:
    """The caller's address from the front end's ``X-Forwarded-For`` (its first entry; Azure
    writes IPv4 ones with the port, ``203.0.113.7:51234``)."""
    first = forwarded.split(",", maxsplit=1)[0].strip()
    if first.count(":") == 1:
        first = first.split(":")[0]
    return first or "0.0.0.0"  # noqa: S104 - a value, not a bind


def to_response(result: dict[str, Any]) -> func.HttpResponse:
    """A ``func.HttpResponse`` carrying a resolver's result (status, headers, cookies, body).

    The host sets ``Content-Length`` itself, so the result's is left out."""
    import azure.functions as func

    body = result_body(result)
    response = func.HttpResponse(body, status_code=int(result.get("statusCode", 200)))
    response.headers.clear()
    for name, value in result_headers(result, len(body)):
        if name != "content-length":
            response.headers.add(name, value)
    return response
