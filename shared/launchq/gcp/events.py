"""What the Google Cloud event functions do: a doorbell ring dispatches, a scheduler tick reconciles.

Pub/Sub hands a function each message as a CloudEvent (``google.cloud.pubsub.topic.v1.
messagePublished``) whose data is ``{"message": {"data": <base64>, "messageId", ...},
"subscription"}``. The doorbell's message data is the SQS doorbell's body (``{"queue": q}``),
so both clouds' dispatchers read a ring with the same parser and run the same step
(``Dispatcher.dispatch``), as ``functions/aws/dispatcher.py`` does for an SQS record.

A ring that is not a doorbell message raises InvalidInput: the function fails, Pub/Sub
redelivers it and, after the subscription's ``max_delivery_attempts``, moves it to the
dead-letter topic, where it can be read -- as SQS's redrive does with a bad record. A
repeated ring is harmless: the store decides what runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import Base64Bytes, BaseModel, ConfigDict, ValidationError

from launchq.adapters.doorbells.pubsub import queue_of
from launchq.bootstrap import Services
from launchq.domain.models import Run
from launchq.domain.states import RunState
from launchq.errors import InvalidInput
from launchq.validation import problems

__all__ = ["dispatch_ring", "reconcile", "ring_queue"]

log = logging.getLogger(__name__)


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    data: Base64Bytes
    messageId: str | None = None


class _Push(BaseModel):
    """A Pub/Sub message as a CloudEvent carries it; other keys (subscription, ...) are ignored."""

    model_config = ConfigDict(extra="ignore")

    message: _Message


def ring_queue(data: Mapping[str, Any] | None) -> str:
    """The queue a Pub/Sub CloudEvent's doorbell message names. Raises InvalidInput otherwise."""
    try:
        push = _Push.model_validate(data or {})
    except ValidationError as exc:
        where, why = problems(exc, whole="data")[0]
        raise InvalidInput(f"not a Pub/Sub message ({where}: {why})", field="doorbell") from None
    return queue_of(push.message.data)


def dispatch_ring(services: Services, data: Mapping[str, Any] | None) -> list[Run]:
    """Claim and launch what the rung queue may run now; the runs launched (or dead-lettered)."""
    queue = ring_queue(data)
    launched = services.dispatcher.dispatch(queue)
    dead = sum(1 for run in launched if run.state == RunState.DEAD_LETTER)
    log.info(
        "dispatched queue %s: %d launched, %d dead-lettered (%s)",
        queue,
        len(launched) - dead,
        dead,
        ", ".join(f"{run.id}={run.state.value}" for run in launched) or "nothing to claim",
    )
    return launched


def reconcile(services: Services) -> None:
    """One reconciler tick (stale claims, polling, starts that never came, cron schedules).

    The Cloud Scheduler message carries nothing the tick needs, so it is not read."""
    services.reconciler.tick()
