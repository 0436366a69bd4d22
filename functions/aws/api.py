"""Lambda entry point of the HTTP API: parse -> call -> map, all inside the Powertools resolver.

The DynamoDB/SQS wiring arrives with the AWS stack; until then this entry point uses the
embedded store under ``LAUNCHQ_DATA_DIR`` (``/tmp/launchq`` on Lambda: one warm container's
scratch space), which is enough to exercise the one Router under API Gateway's event shape.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from launchq.api.app import lambda_app
from launchq.bootstrap import Services
from launchq.local.settings import LocalSettings
from launchq.local.wiring import build_local


@cache
def _services() -> Services:
    return build_local(LocalSettings())


def handler(event: dict[str, Any], context: Any, services: Services | None = None) -> dict[str, Any]:
    return lambda_app(services or _services()).resolve(event, context)
