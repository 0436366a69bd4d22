"""Lambda entry point of the reconciler (every minute): stale claims, polling, cron schedules."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from launchq.aws.wiring import services_from_env
from launchq.bootstrap import Services

logger = Logger(service="launchq-reconciler")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any, services: Services | None = None) -> dict[str, Any]:
    svc = services or services_from_env()
    svc.reconciler.tick()
    return {"ok": True}
