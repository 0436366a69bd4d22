"""Lambda entry point of the HTTP API (API Gateway HTTP API -> the one Powertools Router)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from launchq.api.app import lambda_app
from launchq.aws.wiring import services_from_env
from launchq.bootstrap import Services

logger = Logger(service="launchq-api")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any, services: Services | None = None) -> dict[str, Any]:
    return lambda_app(services or services_from_env()).resolve(event, context)
