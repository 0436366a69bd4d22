"""Lambda entry point of the HTTP API authorizer (ApiAuth=API_KEY); its logic: launchq.aws.authorizer."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from launchq.aws.authorizer import authorize, store_from_env
from launchq.service.api_keys import KeyService

logger = Logger(service="launchq-authorizer")
_keys: list[KeyService] = []  # the store client, built once per container


@logger.inject_lambda_context(clear_state=True)  # the event is never logged: it holds the key
def handler(event: dict[str, Any], context: Any, keys: KeyService | None = None) -> dict[str, Any]:
    if keys is None:
        if not _keys:
            _keys.append(KeyService(store_from_env()))
        keys = _keys[0]
    return authorize(event, keys)
