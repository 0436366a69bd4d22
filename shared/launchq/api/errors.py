"""Errors to HTTP statuses, in one table; every error body is ``{error, detail, field}``."""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from launchq.errors import (
    AlreadyExists,
    BackendUnavailable,
    Conflict,
    InvalidInput,
    LaunchFailed,
    LaunchqError,
    NotFound,
    PayloadTooLarge,
)
from launchq.redaction import redact

log = logging.getLogger(__name__)

STATUS: dict[type[LaunchqError], tuple[HTTPStatus, str]] = {
    InvalidInput: (HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_input"),
    PayloadTooLarge: (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large"),
    LaunchFailed: (HTTPStatus.UNPROCESSABLE_ENTITY, "launch_failed"),
    NotFound: (HTTPStatus.NOT_FOUND, "not_found"),
    AlreadyExists: (HTTPStatus.CONFLICT, "already_exists"),
    Conflict: (HTTPStatus.CONFLICT, "conflict"),
    BackendUnavailable: (HTTPStatus.SERVICE_UNAVAILABLE, "unavailable"),
}


def error_response(status: HTTPStatus, error: str, detail: str, field: str | None = None) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": error, "detail": redact(detail), "field": field},
    )


def _location(err: dict[str, Any]) -> str:
    """The field an error is about: its path without pydantic's source prefix.

    An error about the body as a whole (malformed JSON, whose location is a character
    offset, or a body that is not an object) is about ``body``.
    """
    loc = tuple(err.get("loc", ()))
    if err.get("type") == "json_invalid" or loc == ("body",):
        return "body"
    parts = [str(p) for p in loc if p not in ("body", "query", "header", "path")]
    return ".".join(parts)


def _message(err: dict[str, Any]) -> str:
    if err.get("type") == "json_invalid":
        return f"request body is not valid JSON: {err.get('ctx', {}).get('error', 'decode error')}"
    if err.get("type") == "extra_forbidden":
        return "unknown field"
    return str(err.get("msg", "invalid value")).removeprefix("Value error, ")


def _is_the_body(app: ApiGatewayResolver, exc: UnicodeDecodeError) -> bool:
    """Whether ``exc`` is the request body failing to decode (a binary body arrives base64-encoded)."""
    event = app.current_event
    if not event.is_base64_encoded or not event.body:
        return False
    try:
        return base64.b64decode(event.body) == exc.object
    except (binascii.Error, ValueError):
        return False


def register_error_handlers(app: ApiGatewayResolver) -> None:
    @app.exception_handler(RequestUnsupportedContentType)
    def _media_type(exc: RequestUnsupportedContentType) -> Response[Any]:
        return error_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "content-type: send the body as application/json",
            "content-type",
        )

    @app.exception_handler(UnicodeDecodeError)
    def _not_text(exc: UnicodeDecodeError) -> Response[Any]:
        if not _is_the_body(app, exc):
            return _internal(exc)
        detail = "body: is not UTF-8 text"
        return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_input", detail, "body")

    @app.exception_handler(RequestValidationError)
    def _validation(exc: RequestValidationError) -> Response[Any]:
        errors = list(exc.errors())
        first = errors[0] if errors else {}
        field = _location(first) or None
        details = [f"{_location(e) or 'body'}: {_message(e)}" for e in errors]
        return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_input", "; ".join(details), field)

    @app.exception_handler(LaunchqError)
    def _launchq(exc: LaunchqError) -> Response[Any]:
        for kind in type(exc).__mro__:
            if kind in STATUS:
                status, code = STATUS[kind]
                return error_response(status, code, str(exc), exc.field)
        return _internal(exc)

    @app.not_found
    def _not_found(exc: Exception) -> Response[Any]:
        return error_response(HTTPStatus.NOT_FOUND, "not_found", "no such route")

    @app.exception_handler(Exception)
    def _internal(exc: Exception) -> Response[Any]:
        incident = uuid.uuid4().hex[:12]
        log.exception("internal error %s", incident)
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR, "internal", f"internal error; see the server log for {incident}"
        )
