"""Lambda entry point for pushed status: EventBridge "SageMaker Training Job State Change".

The event names the run through the job's ``launchq:run-id`` tag; that one run is
reconciled at once (and its slot freed, ringing the doorbell). An event without the tag
(a job launchq did not start, or a tag removed by hand) is ignored; the reconciler's
polling stays the fallback for any event that is lost.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent

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
    received = EventBridgeEvent(event)
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
