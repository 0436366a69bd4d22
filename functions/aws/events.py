"""Lambda entry point for pushed events: SageMaker job and CodeBuild build state changes,
and schedule ticks.

- EventBridge "SageMaker Training Job State Change": the event names the run through the
  job's ``launchq:run-id`` tag; that one run is reconciled at once (and its slot freed,
  ringing the doorbell). An event without the tag (a job launchq did not start, or a tag
  removed by hand) is ignored; the reconciler's polling stays the fallback for any event
  that is lost.
- EventBridge "CodeBuild Build State Change" (source ``aws.codebuild``): the build names
  its run through the ``LAUNCHQ_RUN_ID`` variable the codebuild builder puts into its
  environment (``detail.additional-information.environment.environment-variables``), and
  ``detail.build-id`` (the build's ARN) must be the build the run is ``building`` with;
  then the dispatcher resumes the run (BatchGetBuilds is asked: the image is submitted,
  or the run dead-lettered with the build's failure). ``IN_PROGRESS`` events change
  nothing. A build of no known run, or one the run no longer waits for (a stale or
  repeated event), is logged and ignored; the reconciler's ``poll_builds`` is the fallback.

The handler only parses the event, calls one service method
(``launchq.service.state_changes`` holds the rules) and maps its answer to a log line and
its return value.
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

from launchq.adapters.builders.codebuild import (
    codebuild_state_change_build_id,
    codebuild_state_change_run_id,
    codebuild_state_change_status,
)
from launchq.adapters.schedulers.eventbridge import ScheduleFired
from launchq.adapters.targets.sagemaker import sagemaker_state_change_run_id
from launchq.aws.wiring import services_from_env
from launchq.bootstrap import Services
from launchq.errors import NotFound
from launchq.service.state_changes import BuildEventOutcome
from launchq.validation import problems

logger = Logger(service="launchq-events")

BUILD_STATE_CHANGE = "CodeBuild Build State Change"
_BUILD_LOG: dict[BuildEventOutcome, str] = {
    "in_progress": "build in progress",
    "not_waiting": "build event for a run not waiting on that build",
    "resumed": "build finished",
}


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any, services: Services | None = None) -> dict[str, Any]:
    svc = services or services_from_env()
    if "launchq" in event:
        return _schedule_tick(svc, event)
    if "detail" not in event:
        logger.warning("ignored an event that is neither a state change nor a schedule tick")
        return {"run_id": None, "state": None}
    received = EventBridgeEvent(event)
    if received.source == "aws.codebuild" and received.detail_type == BUILD_STATE_CHANGE:
        return _build_state_change(svc, received)
    return _state_change(svc, received)


def _schedule_tick(svc: Services, event: dict[str, Any]) -> dict[str, Any]:
    try:
        fired = ScheduleFired.model_validate(event)
    except ValidationError as exc:
        where, why = problems(exc, whole="event")[0]
        logger.warning("ignored a malformed schedule event", extra={"field": where, "error": why})
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
        run = svc.state_changes.on_job_state_change(run_id)
    except NotFound:
        logger.warning("event names an unknown run", extra={"run_id": run_id})
        return {"run_id": run_id, "state": None}
    return {"run_id": run.id, "state": run.state.value}


def _build_state_change(svc: Services, received: EventBridgeEvent) -> dict[str, Any]:
    detail = received.detail
    build_id = codebuild_state_change_build_id(detail)
    run_id = codebuild_state_change_run_id(detail)
    status = str(detail.get("build-status", ""))
    ignored = {"run_id": run_id, "build_id": build_id, "state": None}
    if build_id is None or run_id is None:
        logger.info("build launchq did not start", extra={"build_id": build_id, "build_status": status})
        return ignored
    try:
        result = svc.state_changes.on_build_state_change(
            run_id, build_id, codebuild_state_change_status(detail)
        )
    except NotFound:
        logger.warning("build event names an unknown run", extra={"run_id": run_id, "build_id": build_id})
        return ignored
    state = result.run.state.value if result.run is not None else None
    extra = {"run_id": run_id, "build_id": build_id, "build_status": status, "state": state}
    logger.info(_BUILD_LOG[result.outcome], extra=extra)
    return {**ignored, "state": state}
