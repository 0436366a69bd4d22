"""An HTTP request as the API Gateway HTTP API (payload 2.0) event, and a resolver's result back.

Every front door that is not API Gateway itself -- the local server's ASGI adapter
(``launchq.local.asgi``) and the Google Cloud HTTP function (``launchq.gcp.http``) -- hands
the one resolver the event Lambda would receive, so the Router, its validation and its
error mapping are the same code behind every door. This module holds the translation both
directions, free of any server framework: each door passes plain strings and bytes.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["HttpRequest", "error_result", "http_api_event", "result_body", "result_headers"]


@dataclass(frozen=True)
class HttpRequest:
    """What a door knows about one request; header names as received (any case)."""

    method: str
    path: str
    raw_path: str
    query_string: str
    headers: Iterable[tuple[str, str]]
    body: bytes
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"


def http_api_event(request: HttpRequest, api_id: str = "local") -> dict[str, Any]:
    """The API Gateway HTTP API (payload 2.0) event for ``request``.

    As API Gateway does: header names lower-cased, repeated headers and query parameters
    joined with commas, cookies in their own list, a body that is not UTF-8 sent as base64.
    """
    headers: dict[str, str] = {}
    for raw_name, value in request.headers:
        name = raw_name.lower()
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
    query: dict[str, str] = {}
    for key, value in parse_qsl(request.query_string, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    text, is_base64 = _body_text(request.body)
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.raw_path,
        "rawQueryString": request.query_string,
        "cookies": cookies,
        "headers": headers,
        "queryStringParameters": query or None,
        "requestContext": {
            "accountId": api_id,
            "apiId": api_id,
            "domainName": headers.get("host", "localhost"),
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": request.protocol,
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }


def _body_text(body: bytes) -> tuple[str | None, bool]:
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def error_result(status: HTTPStatus, error: str, detail: str, field: str | None = None) -> dict[str, Any]:
    """A resolver-shaped result carrying the API's error body ``{error, detail, field}``."""
    return {
        "statusCode": int(status),
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"error": error, "detail": detail, "field": field}),
        "isBase64Encoded": False,
    }


def result_body(result: dict[str, Any]) -> bytes:
    """A resolver's result body as bytes (decoded when the resolver sent it as base64)."""
    body_field = result.get("body") or ""
    return base64.b64decode(body_field) if result.get("isBase64Encoded") else str(body_field).encode()


def result_headers(result: dict[str, Any], body_length: int) -> list[tuple[str, str]]:
    """The response headers: the result's (lower-cased), one ``set-cookie`` per cookie, and a
    ``content-length`` for ``body_length`` in place of any the result carries."""
    headers = [
        (str(name).lower(), str(value))
        for name, value in (result.get("headers") or {}).items()
        if str(name).lower() != "content-length"
    ]
    headers += [("set-cookie", str(cookie)) for cookie in result.get("cookies") or []]
    headers.append(("content-length", str(body_length)))
    return headers
