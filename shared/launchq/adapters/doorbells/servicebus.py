"""Service Bus doorbell: wakes the dispatcher for a queue with a tiny ``{"queue": name}`` message.

A ring carries no run: the store decides what runs, so a lost or repeated message never
loses or repeats a run. The body is the SQS doorbell's (``doorbell_body``), so every cloud's
dispatcher reads a ring with one parser (``parse_doorbell``), and ``launchq dlq drain`` reads
dead-lettered ones the same way. Why the ring was sent (``reason``) rides beside the body, as
the message's ``subject`` and an application property, where Service Bus Explorer shows it.

**Duplicate detection folds a burst.** The message id is a digest of the queue name and a
``coalesce_seconds`` time bucket, so on a queue with duplicate detection on (infra/azure does
it) a burst of enqueues onto one queue is one wake-up. The bucket is short on purpose, as the
SQS FIFO doorbell's is: an id per queue alone would swallow every ring for the whole detection
window, so a slot freed a minute after an enqueue would wake no one. A ring folded into one the
dispatcher already handled is picked up by the next ring or by the reconciler's sweep.

**Receiving** (``ServiceBusRings``, for a dispatcher that pulls rather than being triggered):
peek-lock, handle, then complete; a handler that raised abandons the message, so Service Bus
redelivers it and, after the queue's ``maxDeliveryCount``, dead-letters it. A message that is
not a doorbell is dead-lettered at once with the reason: redelivering it cannot help. The
Azure Functions trigger (``functions/azure/function_app.py``) settles the same way through
the Functions runtime (``autoCompleteMessages``: complete on return, abandon on raise).

The client is ``ServiceBusClient`` on a namespace with ``DefaultAzureCredential`` (managed
identity in the Function App) or from a connection string. The SDK (``azure-servicebus``,
launchq's ``azure`` extra) is imported when the client is built, never when this module loads;
its errors become launchq's in ``launchq.azure.errors``.

Test gap: Service Bus has no local server (its emulator needs Docker), so the tests drive the
adapter at the SDK boundary with a stand-in client that returns the SDK's own message objects.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from launchq.adapters.doorbells.sqs import doorbell_body, parse_doorbell
from launchq.azure.errors import azure_call, import_sdk
from launchq.errors import BackendUnavailable, InvalidInput
from launchq.ports import Doorbell

if TYPE_CHECKING:
    from azure.servicebus import (
        ServiceBusClient,
        ServiceBusReceivedMessage,
        ServiceBusReceiver,
        ServiceBusSender,
    )

__all__ = [
    "CONNECTION_ENV",
    "DEFAULT_COALESCE_SECONDS",
    "RingReport",
    "ServiceBusDoorbell",
    "ServiceBusRings",
    "check_namespace",
    "check_queue_name",
    "message_body",
    "servicebus_client",
]

log = logging.getLogger(__name__)

DEFAULT_COALESCE_SECONDS = 1.0
CONNECTION_ENV = "LAUNCHQ_SERVICEBUS"  # a connection string (the Functions trigger's connection name)
DEFAULT_TIMEOUT = 10.0
SUBJECT = "launchq-doorbell"
# Service Bus entity names: letters, digits, '.', '-', '_' (and '/' for paths), 1-260 characters,
# starting and ending with a letter or digit.
_QUEUE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._/-]{0,258}[A-Za-z0-9])?$")
# <namespace>.servicebus.windows.net (or a sovereign cloud's servicebus.* host): 6-50 characters.
_NAMESPACE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{4,48}[A-Za-z0-9]\.servicebus\.[a-z0-9.]+$")


def check_queue_name(name: str) -> str:
    """``name`` when Service Bus accepts it as a queue name. Raises ValueError saying why."""
    if not _QUEUE.match(name):
        raise ValueError(
            f"{name!r} is not a Service Bus queue name (1-260 letters, digits, '.', '-', '_', '/', "
            "starting and ending with a letter or digit)"
        )
    return name


def check_namespace(namespace: str) -> str:
    """``namespace`` when it is a fully qualified one. Raises ValueError saying the form."""
    if not _NAMESPACE.match(namespace):
        raise ValueError(f"{namespace!r} is not a Service Bus namespace: <name>.servicebus.windows.net")
    return namespace


def servicebus_client(
    *, namespace: str | None = None, connection_string: str | None = None
) -> ServiceBusClient:
    """A client from a connection string, else on ``namespace`` with DefaultAzureCredential.

    Raises BackendUnavailable (no SDK, no azure-identity, a malformed connection string: the
    detail never repeats it), ValueError when neither is given."""
    sdk = import_sdk("azure.servicebus", "azure-servicebus")
    if connection_string:
        try:
            client: ServiceBusClient = sdk.ServiceBusClient.from_connection_string(connection_string)
        except ValueError:  # the SDK's message quotes the string, key included: not repeated here
            raise InvalidInput("not a Service Bus connection string", field="doorbell") from None
        return client
    if not namespace:
        raise ValueError("give a Service Bus namespace or a connection string")
    identity = import_sdk("azure.identity", "azure-identity")
    with azure_call("building the Service Bus client", field="doorbell"):
        built: ServiceBusClient = sdk.ServiceBusClient(
            namespace, credential=identity.DefaultAzureCredential()
        )
    return built


def message_body(message: ServiceBusReceivedMessage) -> bytes:
    """A received message's body as bytes (a data body arrives as a sequence of sections)."""
    body = message.body
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    return b"".join(bytes(part) for part in body)


class ServiceBusDoorbell(Doorbell):
    """Sends doorbell messages to one Service Bus queue.

    One sender link is kept open and shared (under a lock: a sender is not thread-safe, and the
    HTTP function serves several requests at once); a send that fails drops it, so the next ring
    opens a fresh link rather than reusing a broken one.
    """

    def __init__(
        self,
        queue_name: str,
        client: ServiceBusClient | None = None,
        *,
        connect: Callable[[], ServiceBusClient] | None = None,
        coalesce_seconds: float = DEFAULT_COALESCE_SECONDS,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``client``, or ``connect`` to build it at the first ring (a cold start that never
        rings never builds it). Raises ValueError for a bad queue name, a non-positive
        ``coalesce_seconds``/``timeout``, or neither client nor ``connect``."""
        if client is None and connect is None:
            raise ValueError("give a Service Bus client or a way to connect")
        if coalesce_seconds <= 0 or timeout <= 0:
            raise ValueError("coalesce_seconds and timeout must be positive")
        self.queue_name = check_queue_name(queue_name)
        self.coalesce_seconds = coalesce_seconds
        self.timeout = timeout
        self._clock = clock
        self._connect = connect
        self._client = client
        self._sender: ServiceBusSender | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> ServiceBusClient:
        if self._client is None:
            if self._connect is None:  # __init__ refuses neither; kept for the type checker
                raise ValueError("no Service Bus client and no way to connect")
            self._client = self._connect()
        return self._client

    def message_id(self, queue: str) -> str:
        """The id of a ring for ``queue`` now: equal for rings of one queue in one time bucket."""
        bucket = math.floor(self._clock() / self.coalesce_seconds)
        return hashlib.sha256(f"{queue}\0{bucket}".encode()).hexdigest()

    def ring(self, queue: str, reason: str = "ring") -> None:
        """Raises BackendUnavailable when Service Bus cannot be reached in ``timeout`` seconds,
        refuses the message, or has no such queue (the detail names it)."""
        sdk = import_sdk("azure.servicebus", "azure-servicebus")
        message = sdk.ServiceBusMessage(
            doorbell_body(queue),
            message_id=self.message_id(queue),
            subject=SUBJECT,
            content_type="application/json",
            application_properties={"queue": queue, "reason": reason},
        )
        with self._lock, azure_call(f"Service Bus send to {self.queue_name}", field="doorbell"):
            try:
                if self._sender is None:
                    self._sender = self.client.get_queue_sender(self.queue_name)
                self._sender.send_messages(message, timeout=self.timeout)
            except BaseException:
                self._drop_sender()
                raise

    def _drop_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            try:
                sender.close()
            except Exception:
                log.debug("closing a failed Service Bus sender", exc_info=True)

    def close(self) -> None:
        """Close the sender and the client (a Function App instance never needs to)."""
        with self._lock:
            self._drop_sender()
            if self._client is not None:
                self._client.close()


@dataclass
class RingReport:
    """What one receive did: queues handled (completed), messages abandoned and dead-lettered,
    and messages whose settlement failed (they come back when their lock expires)."""

    handled: list[str] = field(default_factory=list)
    abandoned: list[tuple[str, str]] = field(default_factory=list)
    dead_lettered: list[tuple[str, str]] = field(default_factory=list)
    unsettled: list[tuple[str, str]] = field(default_factory=list)


class ServiceBusRings:
    """The dispatcher's receive path on one queue: peek-lock, handle, complete or abandon."""

    def __init__(self, queue_name: str, client: ServiceBusClient, *, max_wait: float = 5.0) -> None:
        self.queue_name = check_queue_name(queue_name)
        self.max_wait = max_wait
        self._client = client

    def take(self, handle: Callable[[str], Any], max_messages: int = 10) -> RingReport:
        """Receive up to ``max_messages`` rings and settle each by what ``handle(queue)`` did.

        Raises BackendUnavailable only when the queue cannot be read; a settlement that fails
        leaves the message to come back when its lock expires (harmless: the store decides)."""
        report = RingReport()
        with azure_call(f"Service Bus receive from {self.queue_name}", field="doorbell"):
            receiver = self._client.get_queue_receiver(self.queue_name, max_wait_time=self.max_wait)
        with receiver:
            with azure_call(f"Service Bus receive from {self.queue_name}", field="doorbell"):
                received = receiver.receive_messages(
                    max_message_count=max_messages, max_wait_time=self.max_wait
                )
            for message in received:
                try:
                    with azure_call(f"settling message {message.message_id}", field="doorbell"):
                        self._settle(receiver, message, handle, report)
                except BackendUnavailable as exc:  # a lost lock, a dropped link: it comes back
                    report.unsettled.append((str(message.message_id), exc.detail))
        return report

    def _settle(
        self,
        receiver: ServiceBusReceiver,
        message: ServiceBusReceivedMessage,
        handle: Callable[[str], Any],
        report: RingReport,
    ) -> None:
        message_id = str(message.message_id)
        try:
            queue = parse_doorbell(message_body(message).decode("utf-8", "replace"))
        except InvalidInput as exc:
            receiver.dead_letter_message(
                message, reason="not a doorbell message", error_description=exc.detail
            )
            report.dead_lettered.append((message_id, exc.detail))
            return
        try:
            handle(queue)
        except Exception as exc:  # noqa: BLE001 - any failure: Service Bus redelivers, then dead-letters
            log.warning("dispatching %r failed; abandoned for redelivery: %s", queue, exc)
            receiver.abandon_message(message)
            report.abandoned.append((message_id, f"{type(exc).__name__}: {exc}"))
            return
        receiver.complete_message(message)
        report.handled.append(queue)
