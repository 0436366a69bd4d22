"""Lambda entry point for pushed events: SageMaker job state changes and schedule ticks.

- EventBridge "SageMaker Training Job State Change": the event names the run through the
  job's ``launchq:run-id`` tag; that one run is reconciled at once (and its slot freed,
  ringing the doorbell). An event without the tag (a job launchq did not start, or a tag
  removed by hand) is ignored; the reconciler's polling stays the fallback for any event
  that is lost.
- ``{"launchq": "schedule", "name": ..., "tick": ...}`` from an EventBridge Scheduler
  schedule (``launchq.adapters.schedulers.eventbridge``): the schedule's run for that tick
  is enqueued, once however often it arrives. A malformed one is logged and ignored; a
  backend error fails the invocation, so Scheduler retries it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from pydantic import ValidationError

from launchq.adapters.schedulers.eventbridge import ScheduleFired
from launchq.adapters.targets.sagemaker import sagemaker_state_change_run_id
from launchq.aws.wiring import services_from_env
from launchq.bootstrap import Services
from launchq.domain.states import RunState
from launchq.errors import NotFound

logger = Logger(service="launchq-events")

_POLLED = {RunState.STARTING, RunState.RUNNING, RunState.STOPPING}


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any, services: Services | None = None) -> dict[str, Any]:
    svc = services or services_from_env()
    if "launchq" in event:
        return _schedule_tick(svc, event)
    if "detail" not in event:
        logger.warning("ignored an event that is neither a job state change nor a schedule tick")
        return {"run_id": None, "state": None}
    return _state_change(svc, EventBridgeEvent(event))


def _schedule_tick(svc: Services, event: dict[str, Any]) -> dict[str, Any]:
    try:
        fired = ScheduleFired.model_validate(event)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "event"
        logger.warning("ignored a malformed schedule event", extra={"field": where, "error": first["msg"]})
        return {"schedule": None, "run_id": None}
    run_id = svc.schedules.fire(fired.name, fired.tick)
    logger.info(
        "schedule fired", extra={"schedule": fired.name, "tick": fired.tick.isoformat(), "run_id": run_id}
    )
    return {"schedule": fired.name, "run_id": run_id}


def _state_change(svc: Services, received: EventBridgeEvent) -> dict[str, Any]:
    run_id = sagemaker_state_change_run_id(received.detail)
    if run_id is None:
        logger.info("event for a job launchq did not start", extra={"detail_type": received.detail_type})
        return {"run_id": None, "state": None}
    try:
        run = svc.runs.get(run_id)
    except NotFound:
        logger.warning("event names an unknown run", extra={"run_id": run_id})
        return {"run_id": run_id, "state": None}
    if run.state in _POLLED:
        run = svc.reconciler.poll(run)
    return {"run_id": run.id, "state": run.state.value}
