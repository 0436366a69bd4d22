"""The SQS doorbell against a real moto server over HTTP (standard and FIFO queues)."""

from __future__ import annotations

import boto3
import pytest
from mypy_boto3_sqs import SQSClient

from launchq.adapters.doorbells.sqs import SqsDoorbell, doorbell_body, parse_doorbell
from launchq.errors import BackendUnavailable, InvalidInput

pytestmark = pytest.mark.integration


@pytest.fixture
def sqs(aws_env: dict[str, str]) -> SQSClient:
    return boto3.client("sqs")  # AWS_ENDPOINT_URL points it at moto


def fifo_queue(sqs: SQSClient, name: str = "doorbell.fifo") -> str:
    return sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]


def drain(sqs: SQSClient, url: str) -> list[str]:
    """Every message body on the queue (received and deleted), until a receive finds none."""
    bodies: list[str] = []
    while True:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = answer.get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


class FixedClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_ring_sends_a_message_naming_the_queue(sqs: SQSClient) -> None:
    # GIVEN a doorbell on a standard queue (the SAM template's kind), built without a client
    url = sqs.create_queue(QueueName="doorbell")["QueueUrl"]
    doorbell = SqsDoorbell(url)
    # WHEN queue "gpu" is rung
    doorbell.ring("gpu")
    # THEN one message arrives, and the dispatcher's parser reads "gpu" from it
    bodies = drain(sqs, url)
    assert len(bodies) == 1
    assert parse_doorbell(bodies[0]) == "gpu"


def test_standard_queue_rings_are_not_coalesced(sqs: SQSClient) -> None:
    url = sqs.create_queue(QueueName="doorbell")["QueueUrl"]
    doorbell = SqsDoorbell(url, sqs)
    doorbell.ring("gpu")
    doorbell.ring("gpu")
    assert [parse_doorbell(body) for body in drain(sqs, url)] == ["gpu", "gpu"]


def test_fifo_rings_for_one_queue_within_the_window_coalesce(sqs: SQSClient) -> None:
    # GIVEN a FIFO doorbell whose clock stands still inside one coalescing bucket
    url = fifo_queue(sqs)
    clock = FixedClock(1_000_000.2)
    doorbell = SqsDoorbell(url, sqs, coalesce_seconds=1.0, clock=clock)
    # WHEN "gpu" is rung three times and "cpu" once
    for _ in range(3):
        doorbell.ring("gpu")
    doorbell.ring("cpu")
    # THEN SQS delivers one message per queue name
    assert sorted(parse_doorbell(body) for body in drain(sqs, url)) == ["cpu", "gpu"]


def test_fifo_ring_in_a_later_window_is_delivered_again(sqs: SQSClient) -> None:
    # GIVEN a FIFO doorbell rung once for "gpu" and the message consumed
    url = fifo_queue(sqs)
    clock = FixedClock(1_000_000.2)
    doorbell = SqsDoorbell(url, sqs, coalesce_seconds=1.0, clock=clock)
    doorbell.ring("gpu")
    assert len(drain(sqs, url)) == 1
    # WHEN it is rung again once the coalescing window has passed (a slot freed later)
    clock.now += 1.0
    doorbell.ring("gpu")
    # THEN that ring wakes the dispatcher again (not swallowed for SQS's 5-minute window)
    assert [parse_doorbell(body) for body in drain(sqs, url)] == ["gpu"]


def test_fifo_accepts_queue_names_sqs_would_refuse_as_group_ids(sqs: SQSClient) -> None:
    # GIVEN names that are not valid MessageGroupIds as they stand (empty, non-ASCII, too long)
    url = fifo_queue(sqs)
    doorbell = SqsDoorbell(url, sqs)
    names = ["", "größe", "q" * 200]
    # WHEN each is rung  THEN each is delivered with its name intact
    for name in names:
        doorbell.ring(name)
    assert sorted(parse_doorbell(body) for body in drain(sqs, url)) == sorted(names)


@pytest.mark.parametrize(
    "body",
    ["not json", "[]", "{}", '{"queue": 7}', '{"queue": null}', '"gpu"', ""],
)
def test_parse_doorbell_refuses_garbage(body: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_doorbell(body)
    assert caught.value.field == "doorbell"


def test_parse_doorbell_reads_what_ring_sends_and_ignores_extra_keys() -> None:
    assert parse_doorbell(doorbell_body("gpu")) == "gpu"
    assert parse_doorbell('{"queue": "gpu", "reason": "slot freed"}') == "gpu"


def test_a_missing_queue_is_backend_unavailable(sqs: SQSClient) -> None:
    # GIVEN a doorbell whose queue was deleted
    url = sqs.create_queue(QueueName="gone")["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    # WHEN it rings  THEN BackendUnavailable (no botocore error crosses the port), naming SQS
    with pytest.raises(BackendUnavailable) as caught:
        SqsDoorbell(url, sqs).ring("gpu")
    assert "SQS SendMessage failed" in str(caught.value)
    assert "testing" not in str(caught.value)  # the credentials never appear


def test_an_unreachable_endpoint_is_backend_unavailable(aws_env: dict[str, str]) -> None:
    # GIVEN a client pointed at a port nothing listens on, with no retries
    from botocore.config import Config

    client = boto3.client(
        "sqs",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1),
    )
    # WHEN it rings  THEN BackendUnavailable
    with pytest.raises(BackendUnavailable):
        SqsDoorbell("http://127.0.0.1:9/123456789012/doorbell", client).ring("gpu")
