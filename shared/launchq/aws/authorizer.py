"""The HTTP API's Lambda authorizer for ``ApiAuth=API_KEY``: a launchq API key in, entity and role out.

API Gateway calls it (REQUEST type, payload 2.0, simple responses) with the request's
``Authorization`` header; the answer is ``{"isAuthorized": bool, "context": {...}}``. An
authorized request reaches the API function with ``entity`` and ``role`` in
``requestContext.authorizer.lambda``, which ``launchq.api.auth`` (``AuthMode.AUTHORIZER``) takes
as the caller, so the entity and role checks are the very ones ``launchq serve --auth keys``
makes. The key is looked up in the table on every call (the authorizer's cache TTL is 0), so a
revoke holds from the next request. Nothing here logs the header or the key.
"""

from __future__ import annotations

import os
from typing import Any

from launchq.domain.api_keys import bearer_token
from launchq.ports import RunStore
from launchq.service.api_keys import KeyService

API_AUTH_ENV = "LAUNCHQ_API_AUTH"
"""The stack's ``ApiAuth`` parameter, set on the API function (``API_KEY`` turns the checks on)."""

DENY: dict[str, Any] = {"isAuthorized": False}


def authorize(event: dict[str, Any], keys: KeyService) -> dict[str, Any]:
    """The simple response for one authorizer ``event``: allowed with the key's entity and role, or denied."""
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    token = bearer_token(headers.get("authorization"))
    key = None if token is None else keys.authenticate(token)
    if key is None:
        return DENY
    return {"isAuthorized": True, "context": {"entity": key.entity, "role": key.role.value, "key_id": key.id}}


def key_auth_on() -> bool:
    """Whether this stack's API takes API keys (``ApiAuth=API_KEY``), read from the environment."""
    return os.environ.get(API_AUTH_ENV, "") == "API_KEY"


def store_from_env() -> RunStore:
    """The stack's table, the only thing the authorizer reads (``LAUNCHQ_TABLE_NAME``)."""
    from launchq.adapters.stores.dynamodb import DynamoRunStore

    return DynamoRunStore(os.environ["LAUNCHQ_TABLE_NAME"])
