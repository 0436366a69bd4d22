"""The Pub/Sub doorbell's dead-letter topic, read through a pull subscription on it.

A push subscription with a dead-letter policy forwards the rings it could not deliver to a
dead-letter topic; a pull subscription on that topic holds them until a drain moves them
back (``dlq.DeadLetters``). A pulled message is hidden for the subscription's ack deadline;
one left unacknowledged (not a doorbell, or its ring failed) is delivered again after it.
The SDK is imported on first use, as in ``pubsub.py``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from launchq.adapters.doorbells.dlq import DeadLetters, DeadMessage
from launchq.gcp.errors import gcp_call, import_sdk

if TYPE_CHECKING:
    from google.pubsub_v1 import SubscriberClient

BATCH = 100
DEFAULT_TIMEOUT = 10.0
_SUBSCRIPTION = re.compile(r"^projects/[a-z0-9.:-]{1,100}/subscriptions/[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")


def check_subscription(subscription: str) -> str:
    """``subscription`` when it is a full path. Raises ValueError saying the expected form."""
    if not _SUBSCRIPTION.match(subscription):
        raise ValueError(
            f"{subscription!r} is not a Pub/Sub subscription path: projects/<project>/subscriptions/<id>"
        )
    return subscription


class PubSubDeadLetters(DeadLetters):
    def __init__(
        self, subscription: str, client: SubscriberClient | None = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.subscription = check_subscription(subscription)
        self.timeout = timeout
        self._client = client

    @property
    def client(self) -> SubscriberClient:
        """The subscriber, built on first use. Raises BackendUnavailable (no SDK, no credentials)."""
        if self._client is None:
            pubsub = import_sdk("google.pubsub_v1", "google-cloud-pubsub")
            with gcp_call("building the Pub/Sub client", field="dlq"):
                self._client = pubsub.SubscriberClient()
        return self._client

    def _receive(self) -> list[DeadMessage]:
        client = self.client
        with gcp_call(f"Pub/Sub Pull from {self.subscription}", field="dlq"):
            answer = client.pull(subscription=self.subscription, max_messages=BATCH, timeout=self.timeout)
        return [
            DeadMessage(item.message.message_id, bytes(item.message.data), item.ack_id)
            for item in answer.received_messages
        ]

    def _delete(self, message: DeadMessage) -> None:
        client = self.client
        with gcp_call(f"Pub/Sub Acknowledge on {self.subscription}", field="dlq"):
            client.acknowledge(
                subscription=self.subscription, ack_ids=[message.receipt], timeout=self.timeout
            )
