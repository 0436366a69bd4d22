"""What the Azure event functions do: a Service Bus ring dispatches, a timer tick reconciles.

The Service Bus trigger hands the function each doorbell message (``func.ServiceBusMessage``);
its body is the SQS doorbell's (``{"queue": q}``), read with the same parser, and the same step
runs (``Dispatcher.dispatch``) as on AWS and Google Cloud.

Settlement is the Functions runtime's (``autoCompleteMessages``, on by default): the message is
completed when the function returns and abandoned when it raises, so Service Bus redelivers it
and, after the queue's ``maxDeliveryCount``, dead-letters it -- where ``launchq dlq drain``
finds it. A ring that is not a doorbell message raises InvalidInput and goes the same way. A
repeated ring is harmless: the store decides what runs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from launchq.adapters.doorbells.dlq import doorbell_queue
from launchq.bootstrap import Services
from launchq.domain.models import Run
from launchq.domain.states import RunState

if TYPE_CHECKING:
    import azure.functions as func

__all__ = ["dispatch_message", "reconcile"]

log = logging.getLogger(__name__)


def dispatch_message(services: Services, message: func.ServiceBusMessage) -> list[Run]:
    """Claim and launch what the rung queue may run now; the runs launched (or dead-lettered).

    Raises InvalidInput for a message that is not a doorbell (it is abandoned, then dead-lettered)."""
    queue = doorbell_queue(message.get_body())
    launched = services.dispatcher.dispatch(queue)
    dead = sum(1 for run in launched if run.state == RunState.DEAD_LETTER)
    log.info(
        "dispatched queue %s (message %s, delivery %s): %d launched, %d dead-lettered",
        queue,
        message.message_id,
        message.delivery_count,
        len(launched) - dead,
        dead,
    )
    return launched


def reconcile(services: Services, timer: func.TimerRequest | None = None) -> None:
    """One reconciler tick (stale claims, polling, starts that never came, cron schedules).

    A tick that is past due (the app was scaled to zero or restarting) runs all the same: the
    reconciler looks at the store as it is, so a late tick catches up on everything."""
    if timer is not None and timer.past_due:
        log.info("the reconciler's timer is past due; reconciling now")
    services.reconciler.tick()
