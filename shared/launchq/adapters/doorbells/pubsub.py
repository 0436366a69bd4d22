"""Pub/Sub doorbell: wakes the dispatcher for a queue with a tiny ``{"queue": name}`` message.

A ring carries no run: the store decides what runs, so a lost or repeated message never
loses or repeats a run (see docs/architecture.md, "Layers"). Pub/Sub delivers at least once:
a redelivered or duplicated ring is a dispatch that re-reads the store and finds nothing
more to claim, and a ring that never arrives (a publish refused after the run was stored,
a push that failed until the message expired) is picked up by the reconciler's scheduled
sweep, the polling net under every doorbell. So no ordering key is set (it would only
serialise one queue's publishes) and no exactly-once delivery is asked for.

The body is the SQS doorbell's (``doorbell_body``), so both clouds' dispatchers read rings
with one parser; ``queue_of`` reads it from a Pub/Sub message's data (a push's CloudEvent
carries that data base64-encoded).

A ring is one synchronous Publish call on the generated client (``google.pubsub_v1``), not
the batching ``google.cloud.pubsub_v1.PublisherClient``: an enqueue answers only once its
ring is accepted, as with SQS, with no background thread that a Cloud Function could freeze
between invocations. ``timeout`` bounds the whole call, retries of transient errors
included, so an unreachable or hung Pub/Sub is BackendUnavailable, never a hang.

The client uses Application Default Credentials, or the emulator that
``PUBSUB_EMULATOR_HOST`` names. The SDK (``google-cloud-pubsub``, launchq's ``gcp`` extra)
is imported on the first ring, never when this module loads.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from launchq.adapters.doorbells.sqs import doorbell_body, parse_doorbell
from launchq.errors import InvalidInput
from launchq.gcp.errors import gcp_call, import_sdk, transient
from launchq.ports import Doorbell

if TYPE_CHECKING:
    from google.api_core.retry import Retry
    from google.pubsub_v1 import PublisherClient

__all__ = ["DEFAULT_TIMEOUT", "PubSubDoorbell", "check_topic", "queue_of"]

DEFAULT_TIMEOUT = 10.0
# projects/<project>/topics/<topic>: a topic id starts with a letter and has 3-255 of these
# characters (Pub/Sub's resource name rules); a project id may be domain-scoped ("a.com:p").
_TOPIC = re.compile(r"^projects/[a-z0-9.:-]{1,100}/topics/[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")


def check_topic(topic: str) -> str:
    """``topic`` when it is a full topic path. Raises ValueError saying the expected form."""
    if not _TOPIC.match(topic):
        raise ValueError(f"{topic!r} is not a Pub/Sub topic path: projects/<project>/topics/<topic>")
    return topic


def queue_of(data: bytes) -> str:
    """The queue name a doorbell message's data names. Raises InvalidInput for anything else."""
    try:
        body = data.decode()
    except UnicodeDecodeError:
        raise InvalidInput("not a doorbell message (data: not UTF-8 text)", field="doorbell") from None
    return parse_doorbell(body)


class PubSubDoorbell(Doorbell):
    """Publishes doorbell messages to one Pub/Sub topic."""

    def __init__(
        self, topic: str, client: PublisherClient | None = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.topic = check_topic(topic)
        self.timeout = timeout
        self._client = client

    @property
    def client(self) -> PublisherClient:
        """The publisher, built on first use. Raises BackendUnavailable (no SDK, no credentials)."""
        if self._client is None:
            pubsub = import_sdk("google.pubsub_v1", "google-cloud-pubsub")
            with gcp_call("building the Pub/Sub client", field="doorbell"):
                self._client = pubsub.PublisherClient()
        return self._client

    def ring(self, queue: str) -> None:
        """Raises BackendUnavailable when Pub/Sub cannot be reached in ``timeout`` seconds,
        refuses the message, or has no such topic (the detail names the topic)."""
        client = self.client  # first: without the SDK, a BackendUnavailable naming it
        from google.pubsub_v1 import PubsubMessage

        message = PubsubMessage(data=doorbell_body(queue).encode())
        with gcp_call(f"Pub/Sub Publish to {self.topic}", field="doorbell"):
            client.publish(topic=self.topic, messages=[message], retry=self._retry(), timeout=self.timeout)

    def _retry(self) -> Retry:
        """Transient errors retried with backoff until ``timeout``, the whole call's deadline."""
        from google.api_core.retry import Retry

        return Retry(predicate=transient, initial=0.1, maximum=2.0, multiplier=2.0, timeout=self.timeout)
