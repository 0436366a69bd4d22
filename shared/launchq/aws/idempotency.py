"""Idempotent enqueue on AWS with Powertools' idempotency utility (DynamoDB persistence).

The store already makes ``Idempotency-Key`` durable (the key item is written in the same
transaction as the run). On AWS, Powertools adds what a Lambda behind API Gateway wants in
front of that: a retry that arrives while the first call is still running gets a clean
"in progress" answer instead of racing it, and a replay returns the recorded answer
without touching the queue. Records live in the launchq table itself
(``PK=IDEMPOTENCY#enqueue``, ``SK=<hash of queue and key>``) and expire through the
table's TTL attribute ``expires_at`` after a day.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from launchq.domain.models import Run, RunSpec
from launchq.errors import Conflict
from launchq.service.context import Context
from launchq.service.runs import RunService, request_hash

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from mypy_boto3_dynamodb import DynamoDBClient

RECORD_PARTITION = "IDEMPOTENCY#enqueue"
KEEP_SECONDS = 24 * 60 * 60


def _mark_replay(response: Any, idempotent_data: DataRecord) -> Any:
    """A recorded answer handed back again: the run was not created by this call."""
    return {**response, "created": False}


class IdempotentRunService(RunService):
    """``RunService`` whose keyed enqueues go through Powertools idempotency first."""

    def __init__(self, ctx: Context, table_name: str, client: DynamoDBClient | None = None) -> None:
        super().__init__(ctx)
        persistence = DynamoDBPersistenceLayer(
            table_name=table_name,
            key_attr="PK",
            sort_key_attr="SK",
            static_pk_value=RECORD_PARTITION,
            expiry_attr="expires_at",
            boto3_client=client,
        )
        config = IdempotencyConfig(
            event_key_jmespath="[queue, key]",
            payload_validation_jmespath="request_hash",
            expires_after_seconds=KEEP_SECONDS,
            response_hook=_mark_replay,
        )
        self._config = config
        parent_enqueue = super().enqueue

        @idempotent_function(data_keyword_argument="request", persistence_store=persistence, config=config)
        def enqueue_once(request: dict[str, Any]) -> dict[str, Any]:
            run, created = parent_enqueue(
                request["queue"], RunSpec.model_validate(request["spec"]), request["key"]
            )
            return {"id": run.id, "created": created}

        self._enqueue_once = enqueue_once

    def register_lambda_context(self, context: Any) -> None:
        """Lets Powertools expire an in-progress record with the invocation's time left."""
        self._config.register_lambda_context(context)

    def enqueue(self, queue_name: str, spec: RunSpec, idempotency_key: str | None = None) -> tuple[Run, bool]:
        if idempotency_key is None:
            return super().enqueue(queue_name, spec, None)
        request = {
            "queue": queue_name,
            "key": idempotency_key,
            "spec": spec.model_dump(mode="json", exclude_unset=True),
            "request_hash": request_hash(queue_name, spec),
        }
        try:
            answer = self._enqueue_once(request=request)
        except IdempotencyValidationError:
            raise Conflict(
                "was already used for a different request on this queue", field="Idempotency-Key"
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise Conflict(
                "a request with this key is still being processed; retry shortly", field="Idempotency-Key"
            ) from None
        return self.ctx.store.get_run(answer["id"]), bool(answer["created"])
