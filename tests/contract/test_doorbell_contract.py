"""The Doorbell contract: one suite, run against every doorbell adapter.

Each adapter comes with a way to see what a ring delivered: ``InProcessDoorbell.wait``
for the in-process one, receiving from the queue (on a real moto server) for SQS, read
with the dispatcher Lambda's own ``parse_doorbell``, and pulling from a subscription of the
topic (on Google's pstest) for Pub/Sub, read with the same parser through ``queue_of``, and
receiving (peek-lock, complete) for Service Bus, which has no local server: the SDK-boundary
stand-in of ``tests/servicebus_stand_in.py`` (SDK message objects, duplicate detection).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import boto3
import pytest

from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.adapters.doorbells.pubsub import PubSubDoorbell
from launchq.adapters.doorbells.servicebus import ServiceBusDoorbell, ServiceBusRings
from launchq.adapters.doorbells.sqs import SqsDoorbell, parse_doorbell
from launchq.ports import Doorbell
from tests.gcp_servers import new_topic, pull_rings
from tests.servicebus_stand_in import ServiceBusStandIn


@dataclass
class DoorbellUnderTest:
    doorbell: Doorbell
    delivered: Callable[[], set[str]]  # queue names delivered since the last look


def _inprocess() -> DoorbellUnderTest:
    doorbell = InProcessDoorbell()
    return DoorbellUnderTest(doorbell, lambda: doorbell.wait(0.0))


def _sqs(fifo: bool) -> DoorbellUnderTest:
    sqs = boto3.client("sqs")  # AWS_ENDPOINT_URL points it at moto
    if fifo:
        url = sqs.create_queue(QueueName="doorbell.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    else:
        url = sqs.create_queue(QueueName="doorbell")["QueueUrl"]

    def delivered() -> set[str]:
        names: set[str] = set()
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                names.add(parse_doorbell(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return names

    return DoorbellUnderTest(SqsDoorbell(url, sqs), delivered)


def _pubsub() -> DoorbellUnderTest:
    topic, subscription = new_topic()  # on the session's pstest, in a project of this test's own
    return DoorbellUnderTest(PubSubDoorbell(topic), lambda: pull_rings(subscription))


def _servicebus() -> DoorbellUnderTest:
    client = ServiceBusStandIn(("doorbell",)).client()

    def delivered() -> set[str]:
        names: set[str] = set()
        while (report := ServiceBusRings("doorbell", client).take(lambda _: None)).handled:
            names.update(report.handled)
        return names

    return DoorbellUnderTest(ServiceBusDoorbell("doorbell", client), delivered)


@pytest.fixture(params=["inprocess", "sqs", "sqs-fifo", "pubsub", "servicebus"])
def under_test(request: pytest.FixtureRequest) -> DoorbellUnderTest:
    if request.param == "inprocess":
        return _inprocess()
    if request.param == "servicebus":
        return _servicebus()
    if request.param == "pubsub":
        request.getfixturevalue("pubsub_env")  # a real Pub/Sub emulator (pstest)
        return _pubsub()
    request.getfixturevalue("aws_env")  # a real moto server, reset for this test
    return _sqs(fifo=request.param == "sqs-fifo")


def test_a_ring_is_delivered_for_that_queue_only(under_test: DoorbellUnderTest) -> None:
    # GIVEN nothing rung yet  THEN nothing is delivered
    assert under_test.delivered() == set()
    # WHEN queue "q" is rung  THEN "q" (and nothing else) is delivered, once looked at
    under_test.doorbell.ring("q")
    assert under_test.delivered() == {"q"}
    assert under_test.delivered() == set()


def test_rings_for_two_queues_are_both_delivered(under_test: DoorbellUnderTest) -> None:
    under_test.doorbell.ring("q")
    under_test.doorbell.ring("other")
    assert under_test.delivered() == {"q", "other"}


def test_repeated_rings_never_raise_and_still_deliver(under_test: DoorbellUnderTest) -> None:
    # WHEN one queue is rung many times in a row (a burst of enqueues)
    for _ in range(25):
        under_test.doorbell.ring("q")
    # THEN it is delivered (coalescing is allowed; losing the wake-up is not)
    assert under_test.delivered() == {"q"}


def test_an_empty_queue_name_is_delivered_as_is(under_test: DoorbellUnderTest) -> None:
    # Every adapter treats "" alike: delivered, and the dispatcher finds no such queue.
    under_test.doorbell.ring("")
    assert under_test.delivered() == {""}
