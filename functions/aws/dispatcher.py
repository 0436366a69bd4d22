"""Lambda entry point of the dispatcher: SQS doorbell messages -> claim and launch runs.

A message only says "look at queue Q"; the store decides what runs. Each record is
handled on its own (Powertools BatchProcessor with ReportBatchItemFailures), so one bad
record is retried without repeating the others; repeating one is harmless anyway.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from launchq.adapters.doorbells.sqs import parse_doorbell
from launchq.aws.wiring import services_from_env
from launchq.bootstrap import Services
from launchq.domain.states import RunState

logger = Logger(service="launchq-dispatcher")
metrics = Metrics(namespace="launchq", service="dispatcher")


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any], context: Any, services: Services | None = None
) -> PartialItemFailureResponse:
    svc = services or services_from_env()

    def record_handler(record: SQSRecord) -> None:
        queue = parse_doorbell(record.body)
        launched = svc.dispatcher.dispatch(queue)
        logger.info("dispatched", extra={"queue": queue, "runs": {r.id: r.state.value for r in launched}})
        dead = sum(1 for r in launched if r.state == RunState.DEAD_LETTER)
        metrics.add_metric(name="RunsLaunched", unit=MetricUnit.Count, value=len(launched) - dead)
        metrics.add_metric(name="RunsDeadLettered", unit=MetricUnit.Count, value=dead)

    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
