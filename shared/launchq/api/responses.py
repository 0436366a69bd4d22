"""What each route declares in ``/openapi.json``: its success body, its errors and its links.

Routes return ``Response`` objects (they choose their status codes), so Powertools cannot see
their models: without these declarations the document said every route answers 200 with
anything, and 422 with FastAPI's ``HTTPValidationError`` list, which is not what the one error
table (``launchq.api.errors``) sends. Clients generated from the document, and the schemathesis
run in the tests, hold the server to what is declared here.

Links say where a response's values lead (the queue just created can be read at
``GET /queues/{name}``); they are what schemathesis' stateful tests follow.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, Field

JSON = "application/json"

ALWAYS = (HTTPStatus.UNPROCESSABLE_ENTITY, HTTPStatus.SERVICE_UNAVAILABLE)
"""Any route may refuse its parameters (422) or find its store unreachable (503)."""

WITH_BODY = (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
"""A route that reads a JSON body also refuses one too large (413) or not JSON (415)."""

_ERROR_MEANING = {
    HTTPStatus.NOT_FOUND: "no such queue, run, job or schedule",
    HTTPStatus.CONFLICT: "already exists, or the resource is not in a state that allows this",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "the body is larger than the route allows",
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: "the body is not application/json",
    HTTPStatus.UNPROCESSABLE_ENTITY: "a field is invalid; `field` names it, `detail` says why",
    HTTPStatus.SERVICE_UNAVAILABLE: "the store or a cloud service could not be reached; retry",
}


class ErrorBody(BaseModel):
    """The body of every error response (``launchq.api.errors.error_response``)."""

    error: str = Field(description="a stable code: invalid_input, not_found, conflict, ...")
    detail: str = Field(description="what went wrong, in words")
    field: str | None = Field(description="the field the error is about (dotted path), if one")


def link(path: str, method: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to the operation ``method path``, its parameters taken from the response."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    return {"operationRef": f"#/paths/{pointer}/{method}", "parameters": parameters}


def documented(
    status: HTTPStatus,
    model: type[BaseModel] | None,
    *errors: HTTPStatus,
    links: dict[str, dict[str, Any]] | None = None,
    also: Iterable[HTTPStatus] = (),
) -> dict[int, OpenAPIResponse]:
    """The ``responses=`` of a route: ``status`` with ``model`` (None: no body), the statuses in
    ``also`` with the same body, then ``errors`` and the ones every route may answer."""
    ok: OpenAPIResponse = {"description": HTTPStatus(status).phrase, "content": {}}
    if model is not None:
        ok["content"] = {JSON: {"model": model}}
    if links:
        ok["links"] = links
    declared: dict[int, OpenAPIResponse] = {int(status): ok}
    for other in also:
        declared[int(other)] = {**ok, "description": HTTPStatus(other).phrase}
    for error in (*errors, *ALWAYS):
        declared[int(error)] = {
            "description": _ERROR_MEANING.get(error, error.phrase),
            "content": {JSON: {"model": ErrorBody}},
        }
    return declared
