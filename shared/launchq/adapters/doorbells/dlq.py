"""Draining a doorbell's dead-letter queue back: re-ring, then delete.

A doorbell message only says "look at queue Q"; the store decides what runs. A message that
reached the DLQ (the dispatcher failed on it ``maxReceiveCount`` times: a store outage, a
bug since fixed) is therefore safe to replay however old it is: re-ringing Q costs at most
one dispatch that finds nothing to claim. So ``drain`` rings the queue each dead message
names on the live doorbell and deletes the dead message only after that ring succeeded (a
delete that fails leaves a message whose next drain rings once more: harmless). A message
that is not a doorbell (``parse_doorbell`` refuses it) is reported and left where it is,
for a person to look at.

The loop is shared; each DLQ (SQS, Pub/Sub) fills ``_receive`` and ``_delete``, as
Powertools' idempotency backends fill ``_get_record``/``_put_record``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from launchq.adapters.doorbells.sqs import parse_doorbell
from launchq.errors import BackendUnavailable, InvalidInput
from launchq.ports import Doorbell


@dataclass(frozen=True)
class DeadMessage:
    """One message received from a DLQ: its id, body and what deleting it takes."""

    message_id: str
    body: bytes
    receipt: str


@dataclass
class DrainReport:
    """What a drain did: the queues re-rung (one entry per message moved back), and the
    messages left in the DLQ with why (not a doorbell; the ring or the delete failed)."""

    rung: list[str] = field(default_factory=list)
    malformed: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def doorbell_queue(body: bytes) -> str:
    """The queue a dead message names. Raises InvalidInput (not UTF-8, not a doorbell)."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise InvalidInput("not a doorbell message (body: not UTF-8 text)", field="doorbell") from None
    return parse_doorbell(text)


class DeadLetters(ABC):
    """A doorbell's dead-letter queue."""

    @abstractmethod
    def _receive(self) -> list[DeadMessage]:
        """Some messages, each hidden from other readers for a while; [] when none is left.
        Raises BackendUnavailable."""

    @abstractmethod
    def _delete(self, message: DeadMessage) -> None:
        """Remove ``message`` for good. Raises BackendUnavailable."""

    def drain(self, doorbell: Doorbell, limit: int | None = None) -> DrainReport:
        """Move every dead doorbell message (at most ``limit``) back onto ``doorbell``.

        Stops when a receive brings nothing it has not seen (malformed and failed messages
        come back once their hiding ends). Raises BackendUnavailable only when the DLQ
        itself cannot be read; a ring or delete that fails is in the report.
        """
        report, seen = DrainReport(), set[str]()
        while limit is None or len(seen) < limit:
            fresh = [m for m in self._receive() if m.message_id not in seen]
            if not fresh:
                break
            for message in fresh[: None if limit is None else limit - len(seen)]:
                seen.add(message.message_id)
                self._move(message, doorbell, report)
        return report

    def _move(self, message: DeadMessage, doorbell: Doorbell, report: DrainReport) -> None:
        try:
            queue = doorbell_queue(message.body)
        except InvalidInput as exc:
            report.malformed.append((message.message_id, exc.detail))
            return
        try:
            doorbell.ring(queue)
        except BackendUnavailable as exc:
            report.failed.append((message.message_id, f"ringing {queue!r} failed, message kept: {exc}"))
            return
        try:
            self._delete(message)
        except BackendUnavailable as exc:  # rung already: a later drain rings once more, harmless
            report.failed.append((message.message_id, f"rang {queue!r} but could not delete it: {exc}"))
        report.rung.append(queue)
