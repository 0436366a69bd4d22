"""Lambda entry point of the HTTP API (API Gateway HTTP API -> the one Powertools Router)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from launchq.api.app import lambda_app
from launchq.api.auth import AuthMode
from launchq.aws.authorizer import key_auth_on
from launchq.aws.idempotency import IdempotentRunService
from launchq.aws.wiring import services_from_env
from launchq.bootstrap import Services

logger = Logger(service="launchq-api")
_apps: dict[int, APIGatewayHttpResolver] = {}  # one resolver per services object, built once


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any, services: Services | None = None) -> dict[str, Any]:
    svc = services or services_from_env()
    if isinstance(svc.runs, IdempotentRunService):
        svc.runs.register_lambda_context(context)
    app = _apps.get(id(svc))
    if app is None:
        auth = AuthMode.AUTHORIZER if key_auth_on() else AuthMode.NONE  # IAM: API Gateway checks
        app = _apps[id(svc)] = lambda_app(svc, auth)
    return app.resolve(event, context)
