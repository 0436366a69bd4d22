"""Draining the doorbell DLQs back (``launchq dlq drain``), against moto's SQS and pstest.

Dead-lettered rings go back onto the live doorbell, each deleted from the DLQ only after
its ring was accepted; a message that is not a doorbell is reported and left; a ring that
fails leaves its message in the DLQ.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any
from uuid import uuid4

import boto3
import pytest
from mypy_boto3_sqs import SQSClient

from launchq.adapters.doorbells.pubsub import PubSubDoorbell
from launchq.adapters.doorbells.pubsub_dlq import PubSubDeadLetters
from launchq.adapters.doorbells.sqs import SqsDoorbell, doorbell_body, parse_doorbell
from launchq.adapters.doorbells.sqs_dlq import SqsDeadLetters
from launchq.errors import BackendUnavailable
from tests.gcp_servers import pull_rings

pytestmark = pytest.mark.integration


@pytest.fixture
def sqs(aws_env: dict[str, str]) -> SQSClient:
    return boto3.client("sqs")  # AWS_ENDPOINT_URL points it at moto


def doorbell_with_dlq(sqs: SQSClient) -> tuple[str, str]:
    """The template's pair: a doorbell queue whose redrive sends a message to the DLQ after one receive."""
    dlq = sqs.create_queue(QueueName="doorbell-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 1})
    url = sqs.create_queue(QueueName="doorbell", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    return url, dlq


def dead_letter(sqs: SQSClient, url: str, *queues: str) -> None:
    """Ring ``queues``, then fail each message as a crashing dispatcher would, until SQS dead-letters it."""
    for queue in queues:
        SqsDoorbell(url, sqs).ring(queue)
    for _ in range(3):  # received (not deleted) once, then moved to the DLQ on the next receive
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)


def bodies(sqs: SQSClient, url: str) -> list[str]:
    """Every message body on the queue, received and deleted."""
    found: list[str] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            found.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def waiting(sqs: SQSClient, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def drain_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launchq.cli.main", "dlq", "drain", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_moves_dead_rings_back_and_leaves_a_malformed_message(sqs: SQSClient) -> None:
    # GIVEN rings for gpu, gpu and cpu that the dispatcher failed on, and a stray message
    url, dlq = doorbell_with_dlq(sqs)
    dead_letter(sqs, url, "gpu", "gpu", "cpu")
    stray = sqs.send_message(QueueUrl=dlq, MessageBody="hello, not a ring")["MessageId"]
    assert waiting(sqs, dlq) == 4
    assert waiting(sqs, url) == 0
    # WHEN the DLQ is drained onto the doorbell
    done = drain_cli("--from", dlq, "--to", url)
    # THEN each ring is on the doorbell again, the stray is reported and left, and the exit says so
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == ["cpu: 1 message", "gpu: 2 messages"]
    assert f"left {stray}: not a doorbell message" in done.stderr
    assert "moved 3 back; left 1 malformed, 0 failed" in done.stderr
    assert sorted(parse_doorbell(body) for body in bodies(sqs, url)) == ["cpu", "gpu", "gpu"]
    assert waiting(sqs, dlq) == 1  # only the stray, hidden until its visibility timeout ends


def test_an_empty_dlq_drains_to_nothing_and_exits_zero(
    sqs: SQSClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, dlq = doorbell_with_dlq(sqs)
    monkeypatch.setenv("LAUNCHQ_DOORBELL_QUEUE_URL", url)  # --to from the stack's setting
    done = drain_cli("--from", dlq)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "moved 0 back" in done.stderr


def test_a_message_whose_ring_fails_stays_in_the_dlq(sqs: SQSClient) -> None:
    # GIVEN a dead ring, and a doorbell URL that names no queue
    url, dlq = doorbell_with_dlq(sqs)
    dead_letter(sqs, url, "gpu")
    broken = SqsDoorbell(url.replace("/doorbell", "/no-such-queue"), sqs)
    # WHEN it is drained (visible again at once, so a second receive would see it)
    report = SqsDeadLetters(dlq, sqs, visibility_seconds=0, wait_seconds=0).drain(broken)
    # THEN the failure is reported, nothing was rung, and the message is still in the DLQ
    assert report.rung == []
    assert len(report.failed) == 1
    assert "ringing 'gpu' failed, message kept" in report.failed[0][1]
    assert [parse_doorbell(body) for body in bodies(sqs, dlq)] == ["gpu"]


def test_limit_moves_at_most_that_many(sqs: SQSClient) -> None:
    url, dlq = doorbell_with_dlq(sqs)
    dead_letter(sqs, url, "a", "b", "c")
    report = SqsDeadLetters(dlq, sqs, wait_seconds=0).drain(SqsDoorbell(url, sqs), limit=2)
    assert len(report.rung) == 2
    assert len(bodies(sqs, url)) == 2


def test_an_unreachable_dlq_is_backend_unavailable(sqs: SQSClient) -> None:
    url, dlq = doorbell_with_dlq(sqs)
    missing = SqsDeadLetters(dlq.replace("doorbell-dlq", "gone"), sqs, wait_seconds=0)
    with pytest.raises(BackendUnavailable, match="SQS ReceiveMessage"):
        missing.drain(SqsDoorbell(url, sqs))


def test_the_pubsub_dead_letter_topic_drains_back_onto_the_doorbell_topic(pubsub_env: str) -> None:
    from google.pubsub_v1 import PublisherClient, PubsubMessage, SubscriberClient

    # GIVEN a doorbell topic with the dispatcher's subscription, and a dead-letter topic
    # holding two dead rings and a stray message (pstest does not forward by itself)
    project = f"launchq-{uuid4().hex[:12]}"
    topic, dead_topic = f"projects/{project}/topics/doorbell", f"projects/{project}/topics/doorbell-dead"
    live, dead = f"projects/{project}/subscriptions/dispatcher", f"projects/{project}/subscriptions/dead"
    publisher, subscriber = PublisherClient(), SubscriberClient()
    for name, subscription in ((topic, live), (dead_topic, dead)):
        publisher.create_topic(name=name, timeout=10)
        subscriber.create_subscription(name=subscription, topic=name, ack_deadline_seconds=10, timeout=10)
    messages = [PubsubMessage(data=doorbell_body(q).encode()) for q in ("gpu", "team/cpu ü")]
    publisher.publish(topic=dead_topic, messages=[*messages, PubsubMessage(data=b"\xff\xfe")], timeout=10)
    # WHEN the dead-letter subscription is drained onto the doorbell topic
    report = PubSubDeadLetters(dead).drain(PubSubDoorbell(topic))
    # THEN both rings reach the dispatcher's subscription; the stray is reported and not acknowledged
    assert sorted(report.rung) == ["gpu", "team/cpu ü"]
    assert [why for _, why in report.malformed] == ["not a doorbell message (body: not UTF-8 text)"]
    assert pull_rings(live) == {"gpu", "team/cpu ü"}
    # AND once its ack deadline (10 s) has passed, the stray is delivered again from the DLQ
    deadline, left = time.monotonic() + 30, list[Any]()
    while not left and time.monotonic() < deadline:
        left = list(subscriber.pull(subscription=dead, max_messages=10, timeout=10).received_messages)
    assert [bytes(item.message.data) for item in left] == [b"\xff\xfe"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "nonsense"], "--from: 'nonsense' is neither an SQS queue URL nor a Pub/Sub subscription"),
        (
            ["--from", "https://sqs.example/1/dlq", "--to", "projects/p/topics/t"],
            "--to: give the live doorbell's SQS",
        ),
        (
            ["--from", "projects/p/subscriptions/dead", "--to", "https://x"],
            "--to: 'https://x' is not a Pub/Sub topic",
        ),
        (["--from", "projects/p/subscriptions/x"], "--to: give the live doorbell's Pub/Sub topic"),
    ],
)
def test_cli_mistakes_are_one_line_naming_the_flag(
    args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAUNCHQ_DOORBELL_QUEUE_URL", raising=False)
    monkeypatch.delenv("LAUNCHQ_DOORBELL_TOPIC", raising=False)
    done = drain_cli(*args)
    assert done.returncode == 2
    assert done.stderr.startswith(f"Error: {message}"), done.stderr
    assert "Traceback" not in done.stderr
