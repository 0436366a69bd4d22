"""SQS doorbell: wakes the dispatcher Lambda for a queue with a tiny ``{"queue": name}`` message.

A ring carries no run: the store decides what runs, so a lost or repeated message never
loses or repeats a run (see docs/architecture.md, "Layers"). The dispatcher Lambda reads each record
with ``parse_doorbell``.

On a FIFO queue (URL ending in ``.fifo``) the launchq queue name is the message group,
and rings for one queue within one ``coalesce_seconds`` time bucket share a
deduplication id, so a burst of enqueues is one wake-up. The bucket is short on purpose:
a deduplication id per queue alone would swallow every ring for SQS's five-minute
window, so a slot freed two minutes after an enqueue would not wake anyone. A ring
coalesced into one the dispatcher has already handled is picked up by the next ring or
by the reconciler's scheduled sweep. A standard queue gets plain messages.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, ValidationError

from launchq.adapters import aws_sdk
from launchq.adapters.aws_sdk import aws_call
from launchq.errors import InvalidInput
from launchq.ports import Doorbell
from launchq.validation import problems

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# What SQS accepts in MessageGroupId / MessageDeduplicationId: ASCII letters, digits, punctuation.
_SQS_ID = re.compile(r"^[A-Za-z0-9!-/:-@\[-`{-~]{1,128}$")
DEFAULT_COALESCE_SECONDS = 1.0


class DoorbellMessage(BaseModel):
    """The body of one doorbell message. Extra keys are ignored, for rolling deployments."""

    model_config = ConfigDict(extra="ignore", strict=True)

    queue: str


def doorbell_body(queue: str) -> str:
    """The message body ``ring`` sends for ``queue``."""
    return DoorbellMessage(queue=queue).model_dump_json()


def parse_doorbell(body: str) -> str:
    """The queue name a doorbell message body names. Raises InvalidInput for anything else."""
    try:
        return DoorbellMessage.model_validate_json(body).queue
    except ValidationError as exc:
        where, why = problems(exc, whole="body")[0]
        raise InvalidInput(f"not a doorbell message ({where}: {why})", field="doorbell") from None


def _group_id(queue: str) -> str:
    """``queue`` itself when SQS accepts it as a group id, else a digest of it."""
    if _SQS_ID.match(queue):
        return queue
    return "sha256-" + hashlib.sha256(queue.encode()).hexdigest()


class SqsDoorbell(Doorbell):
    """Sends doorbell messages to one SQS queue (standard or FIFO)."""

    def __init__(
        self,
        queue_url: str,
        client: SQSClient | None = None,
        *,
        coalesce_seconds: float = DEFAULT_COALESCE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if coalesce_seconds <= 0:
            raise ValueError("coalesce_seconds must be positive")
        self.queue_url = queue_url
        self.fifo = queue_url.endswith(".fifo")
        self.coalesce_seconds = coalesce_seconds
        self._clock = clock
        self._client = client

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            self._client = aws_sdk.client("sqs")
        return self._client

    def ring(self, queue: str) -> None:
        """Raises BackendUnavailable when SQS cannot be reached or refuses the message."""
        body = doorbell_body(queue)
        with aws_call("SQS SendMessage", field="doorbell"):
            if self.fifo:
                self.client.send_message(
                    QueueUrl=self.queue_url,
                    MessageBody=body,
                    MessageGroupId=_group_id(queue),
                    MessageDeduplicationId=self._deduplication_id(queue),
                )
            else:
                self.client.send_message(QueueUrl=self.queue_url, MessageBody=body)

    def _deduplication_id(self, queue: str) -> str:
        bucket = math.floor(self._clock() / self.coalesce_seconds)
        return hashlib.sha256(f"{queue}\0{bucket}".encode()).hexdigest()
