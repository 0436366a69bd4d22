"""A small Service Bus stand-in at the SDK boundary: what launchq calls on ``ServiceBusClient``.

Service Bus has no local server here (its emulator runs only in Docker), so the doorbell, its
receive path and its dead-letter drain are tested against this. It takes the SDK's own
``ServiceBusMessage`` objects the adapter builds (and refuses anything else, as the SDK's
sender would) and hands back the SDK's own ``ServiceBusReceivedMessage``: each sent message is
encoded to AMQP bytes by the SDK's encoder, given the broker's annotations (sequence number,
enqueued time, lock token, delivery count) and decoded with ``ServiceBusReceivedMessage.
from_bytes``, so the adapter reads exactly what a real receive would give it.

What it models of the broker, as documented for a queue with duplicate detection and
dead-lettering on: a message id seen within ``duplicate_window`` seconds is dropped; a
peek-locked message is hidden until completed (gone), abandoned (back, delivery count + 1;
past ``max_delivery_count`` moved to the dead-letter sub-queue with reason
``MaxDeliveryCountExceeded``), dead-lettered (moved, with its reason) or its receiver closed
(back); settling a message whose lock is gone raises the SDK's ``MessageLockLostError``. A
send to a queue that does not exist raises the SDK's ``MessagingEntityNotFoundError``;
``fail_sends`` makes the next sends raise an error of the test's choosing. Nothing expires.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusSubQueue
from azure.servicebus._pyamqp._encode import encode_payload
from azure.servicebus._pyamqp.message import Header
from azure.servicebus._pyamqp.types import TYPE, VALUE, AMQPTypes
from azure.servicebus._transport._pyamqp_transport import PyamqpTransport
from azure.servicebus.exceptions import MessageLockLostError, MessagingEntityNotFoundError

__all__ = ["ServiceBusStandIn"]


@dataclass
class _Stored:
    amqp: Any  # the pyamqp Message the SDK built from the sent ServiceBusMessage
    sequence: int
    enqueued_ms: int
    deliveries: int = 0
    lock: uuid.UUID | None = None
    dead_reason: str | None = None
    dead_description: str | None = None


@dataclass
class _Queue:
    live: list[_Stored] = field(default_factory=list)
    dead: list[_Stored] = field(default_factory=list)
    seen_ids: dict[str, float] = field(default_factory=dict)  # message id -> when accepted


class ServiceBusStandIn:
    """One namespace: its queues, and a client object to hand an adapter (``client()``)."""

    def __init__(
        self,
        queues: tuple[str, ...] = ("launchq-doorbell",),
        *,
        duplicate_window: float = 60.0,
        max_delivery_count: int = 10,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.queues = {name: _Queue() for name in queues}
        self.duplicate_window = duplicate_window
        self.max_delivery_count = max_delivery_count
        self.clock = clock
        self.sent: list[tuple[str, ServiceBusMessage]] = []  # every send, folded or not
        self.send_failures: list[Exception] = []
        self.closed = 0
        self._sequence = itertools.count(1)

    # -- what tests look at and do ---------------------------------------------------------
    def client(self) -> StandInClient:
        return StandInClient(self)

    def fail_sends(self, *errors: Exception) -> None:
        """The next ``len(errors)`` sends raise these, in order."""
        self.send_failures.extend(errors)

    def depth(self, queue: str, *, dead: bool = False) -> int:
        found = self.queues[queue]
        return len(found.dead if dead else found.live)

    def dead_reasons(self, queue: str) -> list[str | None]:
        return [stored.dead_reason for stored in self.queues[queue].dead]

    def inject(
        self, queue: str, message: ServiceBusMessage, *, dead: bool = False, reason: str | None = None
    ) -> None:
        """Put a message straight into a queue (or its dead letters), as another sender would."""
        stored = self._store(message)
        if dead:
            stored.dead_reason = reason or "MaxDeliveryCountExceeded"
        (self.queues[queue].dead if dead else self.queues[queue].live).append(stored)

    # -- the broker ------------------------------------------------------------------------
    def _store(self, message: ServiceBusMessage) -> _Stored:
        amqp = PyamqpTransport.to_outgoing_amqp_message(message.raw_amqp_message)
        return _Stored(amqp, next(self._sequence), int(self.clock() * 1000))

    def accept(self, queue: str, message: Any) -> None:
        if not isinstance(message, ServiceBusMessage):
            raise TypeError(f"send_messages takes ServiceBusMessage, not {type(message).__name__}")
        if self.send_failures:
            raise self.send_failures.pop(0)
        if queue not in self.queues:
            raise MessagingEntityNotFoundError(message=f"The messaging entity '{queue}' could not be found.")
        self.sent.append((queue, message))
        found, now = self.queues[queue], self.clock()
        message_id = message.message_id
        if message_id is not None:
            accepted = found.seen_ids.get(message_id)
            if accepted is not None and now - accepted < self.duplicate_window:
                return  # duplicate detection: dropped without an error, as Service Bus does
            found.seen_ids[message_id] = now
        found.live.append(self._store(message))

    def lock(self, queue: str, dead: bool, count: int) -> list[ServiceBusReceivedMessage]:
        entries = self.queues[queue].dead if dead else self.queues[queue].live
        taken = [stored for stored in entries if stored.lock is None][:count]
        for stored in taken:
            stored.lock = uuid.uuid4()
            stored.deliveries += 1
        return [_received(stored) for stored in taken]

    def settle(
        self, queue: str, dead: bool, message: ServiceBusReceivedMessage, how: str, **why: Any
    ) -> None:
        found = self.queues[queue]
        entries = found.dead if dead else found.live
        stored = next(
            (s for s in entries if s.lock is not None and str(s.lock) == str(message.lock_token)), None
        )
        if stored is None:
            raise MessageLockLostError(
                message=f"{how}: the message's lock was lost or it was settled already"
            )
        stored.lock = None
        if how == "complete":
            entries.remove(stored)
        elif how == "dead_letter" or (how == "abandon" and stored.deliveries >= self.max_delivery_count):
            entries.remove(stored)
            stored.dead_reason = why.get("reason") or "MaxDeliveryCountExceeded"
            stored.dead_description = why.get("error_description")
            found.dead.append(stored)

    def release(self, queue: str, dead: bool) -> None:
        entries = self.queues[queue].dead if dead else self.queues[queue].live
        for stored in entries:
            stored.lock = None


def _received(stored: _Stored) -> ServiceBusReceivedMessage:
    """The SDK's received message for ``stored``: its AMQP encoding with the broker's annotations."""
    properties = dict(stored.amqp.application_properties or {})
    if stored.dead_reason:
        properties[b"DeadLetterReason"] = stored.dead_reason
        properties[b"DeadLetterErrorDescription"] = stored.dead_description or ""
    amqp = stored.amqp._replace(
        header=Header(delivery_count=stored.deliveries - 1),
        application_properties=properties or None,
        message_annotations={
            b"x-opt-sequence-number": {TYPE: AMQPTypes.long, VALUE: stored.sequence},
            b"x-opt-enqueued-time": {TYPE: AMQPTypes.timestamp, VALUE: stored.enqueued_ms},
        },
        delivery_annotations={b"x-opt-lock-token": {TYPE: AMQPTypes.uuid, VALUE: stored.lock}},
    )
    encoded = bytearray()
    encode_payload(encoded, amqp)
    return ServiceBusReceivedMessage.from_bytes(bytes(encoded))


class StandInClient:
    """What launchq calls on ``azure.servicebus.ServiceBusClient``."""

    def __init__(self, bus: ServiceBusStandIn) -> None:
        self.bus = bus

    def get_queue_sender(self, queue_name: str, **_: Any) -> StandInSender:
        return StandInSender(self.bus, queue_name)

    def get_queue_receiver(
        self, queue_name: str, *, sub_queue: Any = None, max_wait_time: float | None = None, **_: Any
    ) -> StandInReceiver:
        if queue_name not in self.bus.queues:
            raise MessagingEntityNotFoundError(
                message=f"The messaging entity '{queue_name}' could not be found."
            )
        return StandInReceiver(self.bus, queue_name, dead=sub_queue == ServiceBusSubQueue.DEAD_LETTER)

    def close(self) -> None:
        self.bus.closed += 1

    def __enter__(self) -> StandInClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class StandInSender:
    def __init__(self, bus: ServiceBusStandIn, queue: str) -> None:
        self.bus, self.queue, self.open = bus, queue, True

    def send_messages(self, message: Any, *, timeout: float | None = None) -> None:
        assert self.open, "send on a closed sender"
        assert timeout is None or timeout > 0
        for one in message if isinstance(message, list) else [message]:
            self.bus.accept(self.queue, one)

    def close(self) -> None:
        self.open = False


class StandInReceiver:
    def __init__(self, bus: ServiceBusStandIn, queue: str, *, dead: bool) -> None:
        self.bus, self.queue, self.dead, self.open = bus, queue, dead, True

    def receive_messages(
        self, max_message_count: int | None = 1, max_wait_time: float | None = None
    ) -> list[ServiceBusReceivedMessage]:
        assert self.open, "receive on a closed receiver"
        return self.bus.lock(self.queue, self.dead, max_message_count or 1)

    def __iter__(self) -> Iterator[ServiceBusReceivedMessage]:
        return iter(self.receive_messages(max_message_count=1_000))

    def complete_message(self, message: ServiceBusReceivedMessage) -> None:
        self.bus.settle(self.queue, self.dead, message, "complete")

    def abandon_message(self, message: ServiceBusReceivedMessage) -> None:
        self.bus.settle(self.queue, self.dead, message, "abandon")

    def dead_letter_message(
        self,
        message: ServiceBusReceivedMessage,
        reason: str | None = None,
        error_description: str | None = None,
    ) -> None:
        self.bus.settle(
            self.queue, self.dead, message, "dead_letter", reason=reason, error_description=error_description
        )

    def close(self) -> None:
        if self.open:
            self.open = False
            self.bus.release(self.queue, self.dead)

    def __enter__(self) -> StandInReceiver:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
