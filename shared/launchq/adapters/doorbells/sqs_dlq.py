"""The SQS doorbell's dead-letter queue (``DoorbellDeadLetterQueue`` in template.yaml).

Received messages are hidden for ``visibility_seconds`` while a drain works on them, so a
malformed one left in place comes back to the queue afterwards for someone to inspect.
Receives long-poll for ``wait_seconds``: a short poll of SQS samples only some of its
servers and may answer empty while messages remain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from launchq.adapters import aws_sdk
from launchq.adapters.aws_sdk import aws_call
from launchq.adapters.doorbells.dlq import DeadLetters, DeadMessage

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

BATCH = 10  # SQS's most per receive


class SqsDeadLetters(DeadLetters):
    def __init__(
        self,
        queue_url: str,
        client: SQSClient | None = None,
        *,
        visibility_seconds: int = 30,
        wait_seconds: int = 1,
    ) -> None:
        self.queue_url = queue_url
        self.visibility_seconds = visibility_seconds
        self.wait_seconds = wait_seconds
        self.client: SQSClient = client or aws_sdk.client("sqs")  # a drain always uses it

    def _receive(self) -> list[DeadMessage]:
        with aws_call(f"SQS ReceiveMessage from {self.queue_url}", field="dlq"):
            answer = self.client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=BATCH,
                VisibilityTimeout=self.visibility_seconds,
                WaitTimeSeconds=self.wait_seconds,
            )
        return [
            DeadMessage(m["MessageId"], m["Body"].encode(), m["ReceiptHandle"])
            for m in answer.get("Messages", [])
        ]

    def _delete(self, message: DeadMessage) -> None:
        with aws_call("SQS DeleteMessage", field="dlq"):
            self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message.receipt)
