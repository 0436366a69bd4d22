"""The Service Bus doorbell queue's dead-letter sub-queue (``<queue>/$DeadLetterQueue``).

Service Bus moves a ring there after the queue's ``maxDeliveryCount`` failed deliveries, or at
once when the receive path finds it is not a doorbell (``servicebus.ServiceBusRings``). A
drain (``dlq.DeadLetters``) peek-locks a batch, re-rings each message's queue on the live
doorbell and completes the dead message only after that ring succeeded. A message left alone
(malformed, or its ring failed) keeps its lock until the drain closes the receiver or the
queue's lock duration ends, then is there for the next look.

Completing needs the received message itself on the receiver that locked it, so the receiver
is held open for a whole drain and the messages it locked are kept by lock token until they
are settled; ``drain`` closes the receiver when it is done. The SDK is imported on first use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from launchq.adapters.doorbells.dlq import DeadLetters, DeadMessage, DrainReport
from launchq.adapters.doorbells.servicebus import (
    CONNECTION_ENV,
    ServiceBusDoorbell,
    check_namespace,
    check_queue_name,
    message_body,
    servicebus_client,
)
from launchq.azure.errors import azure_call, import_sdk
from launchq.errors import InvalidInput
from launchq.ports import Doorbell

if TYPE_CHECKING:
    from azure.servicebus import ServiceBusClient, ServiceBusReceivedMessage, ServiceBusReceiver

__all__ = ["BATCH", "ServiceBusDeadLetters", "cli_endpoints", "parse_queue_url"]

BATCH = 50


class ServiceBusDeadLetters(DeadLetters):
    def __init__(self, queue_name: str, client: ServiceBusClient, *, max_wait: float = 2.0) -> None:
        """The dead letters of ``queue_name`` (the live doorbell queue, not the sub-queue's path).
        Raises ValueError for a bad queue name."""
        self.queue_name = check_queue_name(queue_name)
        self.max_wait = max_wait
        self._client = client
        self._receiver: ServiceBusReceiver | None = None
        self._locked: dict[str, ServiceBusReceivedMessage] = {}

    def drain(self, doorbell: Doorbell, limit: int | None = None) -> DrainReport:
        try:
            return super().drain(doorbell, limit)
        finally:
            self.close()

    def close(self) -> None:
        """Close the receiver (releasing what it still holds locked)."""
        receiver, self._receiver = self._receiver, None
        self._locked.clear()
        if receiver is not None:
            with azure_call(f"closing the dead-letter receiver of {self.queue_name}", field="dlq"):
                receiver.close()

    def _open(self) -> ServiceBusReceiver:
        if self._receiver is None:
            sdk = import_sdk("azure.servicebus", "azure-servicebus")
            self._receiver = self._client.get_queue_receiver(
                self.queue_name, sub_queue=sdk.ServiceBusSubQueue.DEAD_LETTER, max_wait_time=self.max_wait
            )
        return self._receiver

    def _receive(self) -> list[DeadMessage]:
        with azure_call(f"Service Bus receive from {self.queue_name}/$DeadLetterQueue", field="dlq"):
            received = self._open().receive_messages(max_message_count=BATCH, max_wait_time=self.max_wait)
        dead = []
        for message in received:
            receipt = str(message.lock_token)
            self._locked[receipt] = message
            # the sequence number is unique in the queue; message ids repeat when rings do
            name = str(message.sequence_number if message.sequence_number is not None else message.message_id)
            dead.append(DeadMessage(name, message_body(message), receipt))
        return dead

    def _delete(self, message: DeadMessage) -> None:
        locked = self._locked.pop(message.receipt)
        with azure_call(f"Service Bus complete on {self.queue_name}/$DeadLetterQueue", field="dlq"):
            self._open().complete_message(locked)


def parse_queue_url(url: str, flag: str) -> tuple[str, str]:
    """``sb://<namespace>/<queue>[/$DeadLetterQueue]`` as (namespace, queue). Raises InvalidInput
    naming ``flag``."""
    namespace, _, path = url.removeprefix("sb://").partition("/")
    queue = path.rstrip("/")
    if queue.lower().endswith("/$deadletterqueue"):
        queue = queue[: -len("/$deadletterqueue")]
    try:
        return check_namespace(namespace), check_queue_name(queue)
    except ValueError as exc:
        raise InvalidInput(
            f"{exc} (the form is sb://<namespace>.servicebus.windows.net/<queue>)", field=flag
        ) from None


def cli_endpoints(source: str, target: str | None) -> tuple[ServiceBusDeadLetters, ServiceBusDoorbell]:
    """``launchq dlq drain --from sb://...``: the dead letters of the queue ``source`` names and
    the live doorbell (``target``, by default that same queue: its dead letters belong to it).

    Credentials: the connection string in ``LAUNCHQ_SERVICEBUS`` (the Function App's setting of
    that name), else DefaultAzureCredential (``az login``; it needs "Azure Service Bus Data
    Receiver" and "Sender" on the queue). Raises InvalidInput naming the flag, BackendUnavailable."""
    namespace, queue = parse_queue_url(source, "--from")
    to_namespace, to_queue = parse_queue_url(target, "--to") if target else (namespace, queue)
    if to_namespace != namespace:
        raise InvalidInput("the live doorbell must be in the dead letters' namespace", field="--to")
    connection = os.environ.get(CONNECTION_ENV) or None
    client = servicebus_client(namespace=namespace, connection_string=connection)
    return ServiceBusDeadLetters(queue, client), ServiceBusDoorbell(to_queue, client)
