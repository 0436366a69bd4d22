"""Errors to HTTP statuses, in one table; every error body is ``{error, detail, field}``."""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from launchq.errors import (
    AlreadyExists,
    BackendUnavailable,
    Conflict,
    InvalidInput,
    LaunchFailed,
    LaunchqError,
    NotFound,
)

log = logging.getLogger(__name__)

STATUS: dict[type[LaunchqError], tuple[HTTPStatus, str]] = {
    InvalidInput: (HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_input"),
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
        body={"error": error, "detail": detail, "field": field},
    )


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "header", "path")]
    return ".".join(parts)


def _message(err: dict[str, Any]) -> str:
    if err.get("type") == "json_invalid":
        return f"request body is not valid JSON: {err.get('ctx', {}).get('error', 'decode error')}"
    if err.get("type") == "extra_forbidden":
        return "unknown field"
    return str(err.get("msg", "invalid value")).removeprefix("Value error, ")


def register_error_handlers(app: ApiGatewayResolver) -> None:
    @app.exception_handler(RequestValidationError)
    def _validation(exc: RequestValidationError) -> Response[Any]:
        errors = list(exc.errors())
        first = errors[0] if errors else {}
        field = _location(tuple(first.get("loc", ()))) or None
        details = [f"{_location(tuple(e.get('loc', ()))) or 'body'}: {_message(e)}" for e in errors]
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
