"""The Service Bus doorbell, its receive path and its dead-letter drain, at the SDK boundary.

Service Bus has no local server here (its emulator runs only in Docker): the adapter talks to
``tests/servicebus_stand_in.py``, which takes the SDK's ``ServiceBusMessage`` objects and
hands back the SDK's ``ServiceBusReceivedMessage`` objects decoded from AMQP bytes.
"""

from __future__ import annotations

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import ServiceBusConnectionError
from typer.testing import CliRunner

from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.adapters.doorbells.servicebus import (
    SUBJECT,
    ServiceBusDoorbell,
    ServiceBusRings,
    message_body,
    servicebus_client,
)
from launchq.adapters.doorbells.servicebus_dlq import ServiceBusDeadLetters, parse_queue_url
from launchq.adapters.doorbells.sqs import parse_doorbell
from launchq.cli.dlq import endpoints
from launchq.cli.main import app
from launchq.errors import BackendUnavailable, InvalidInput
from tests.servicebus_stand_in import ServiceBusStandIn

QUEUE = "launchq-doorbell"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def bus() -> ServiceBusStandIn:
    return ServiceBusStandIn((QUEUE,), max_delivery_count=3)


def _doorbell(bus: ServiceBusStandIn, clock: Clock | None = None) -> ServiceBusDoorbell:
    return ServiceBusDoorbell(QUEUE, bus.client(), clock=clock or Clock())


def test_a_ring_is_a_small_json_message_with_its_queue_and_reason(bus: ServiceBusStandIn) -> None:
    # WHEN queue "gpu" is rung for an enqueue
    _doorbell(bus).ring("gpu", reason="enqueue")
    # THEN one SDK message went out: the shared doorbell body, and why beside it
    [(queue, sent)] = bus.sent
    assert queue == QUEUE
    assert parse_doorbell(str(sent)) == "gpu"
    assert (sent.subject, sent.content_type) == (SUBJECT, "application/json")
    assert sent.application_properties == {"queue": "gpu", "reason": "enqueue"}
    assert sent.message_id
    assert len(sent.message_id) == 64


def test_rings_of_one_queue_in_one_bucket_share_an_id_so_duplicate_detection_folds_them(
    bus: ServiceBusStandIn,
) -> None:
    clock = Clock()
    doorbell = _doorbell(bus, clock)
    # WHEN a burst of rings for one queue goes out within a second, and one for another queue
    for _ in range(10):
        doorbell.ring("gpu")
    doorbell.ring("cpu")
    # THEN all were sent, but the queue holds one per (queue, bucket)
    assert len(bus.sent) == 11
    assert len({m.message_id for _, m in bus.sent}) == 2
    assert bus.depth(QUEUE) == 2
    # AND a ring in the next bucket is a new message: a slot freed later still wakes someone
    clock.now += 1.0
    doorbell.ring("gpu")
    assert bus.depth(QUEUE) == 3


def test_a_failed_send_is_backend_unavailable_and_the_next_ring_opens_a_new_link(
    bus: ServiceBusStandIn,
) -> None:
    doorbell = _doorbell(bus)
    doorbell.ring("a")
    first_sender = doorbell._sender
    bus.fail_sends(ServiceBusConnectionError(message="connection reset"))
    with pytest.raises(BackendUnavailable) as failed:
        doorbell.ring("b")
    assert failed.value.field == "doorbell"
    assert "Service Bus send to launchq-doorbell failed: ServiceBusConnectionError" in failed.value.detail
    assert doorbell._sender is None
    assert first_sender is not None
    assert not first_sender.open
    # THEN the next ring goes out on a fresh sender
    doorbell.ring("c")
    assert [parse_doorbell(str(m)) for _, m in bus.sent] == ["a", "c"]


def test_a_queue_that_does_not_exist_is_named_in_the_error() -> None:
    doorbell = ServiceBusDoorbell("missing-queue", ServiceBusStandIn((QUEUE,)).client())
    with pytest.raises(BackendUnavailable, match=r"missing-queue.*MessagingEntityNotFoundError"):
        doorbell.ring("gpu")


def test_the_client_is_built_at_the_first_ring_only(bus: ServiceBusStandIn) -> None:
    built: list[int] = []

    def connect() -> object:
        built.append(1)
        return bus.client()

    doorbell = ServiceBusDoorbell(QUEUE, connect=connect)  # type: ignore[arg-type]
    assert built == []
    doorbell.ring("a")
    doorbell.ring("b")
    assert built == [1]


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"queue_name": "-bad-"}, "not a Service Bus queue name"),
        ({"queue_name": QUEUE, "coalesce_seconds": 0}, "positive"),
        ({"queue_name": QUEUE, "client": None}, "a way to connect"),
    ],
)
def test_bad_construction_is_refused(bus: ServiceBusStandIn, kwargs: dict[str, object], says: str) -> None:
    arguments: dict[str, object] = {"client": bus.client(), **kwargs}
    with pytest.raises(ValueError, match=says):
        ServiceBusDoorbell(**arguments)  # type: ignore[arg-type]


def test_a_malformed_connection_string_is_refused_without_repeating_it() -> None:
    secret = "Endpoint=nope;SharedAccessKey=s3cr3t-value"
    with pytest.raises(InvalidInput) as refused:
        servicebus_client(connection_string=secret)
    assert "s3cr3t" not in str(refused.value)
    assert refused.value.field == "doorbell"


def test_a_connection_string_builds_a_real_client_without_connecting() -> None:
    conn = "Endpoint=sb://launchq-test.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0"
    client = servicebus_client(connection_string=conn)
    assert client.fully_qualified_namespace == "launchq-test.servicebus.windows.net"
    client.close()


# -- the receive path -------------------------------------------------------------------------
def test_the_receive_path_completes_handled_rings_and_abandons_failed_ones(bus: ServiceBusStandIn) -> None:
    clock = Clock()
    doorbell = _doorbell(bus, clock)
    doorbell.ring("gpu")
    doorbell.ring("cpu")
    calls: list[str] = []

    def handle(queue: str) -> None:
        calls.append(queue)
        if queue == "cpu":
            raise BackendUnavailable("store down")

    rings = ServiceBusRings(QUEUE, bus.client())
    report = rings.take(handle)
    # THEN gpu is completed (gone), cpu abandoned (back for redelivery)
    assert (calls, report.handled) == (["gpu", "cpu"], ["gpu"])
    assert [why for _, why in report.abandoned] == ["BackendUnavailable: store down"]
    assert bus.depth(QUEUE) == 1
    # AND after max_delivery_count failed deliveries Service Bus dead-letters it
    rings.take(handle)
    rings.take(handle)
    assert (bus.depth(QUEUE), bus.depth(QUEUE, dead=True)) == (0, 1)
    assert bus.dead_reasons(QUEUE) == ["MaxDeliveryCountExceeded"]


def test_a_message_that_is_not_a_doorbell_is_dead_lettered_at_once(bus: ServiceBusStandIn) -> None:
    bus.inject(QUEUE, ServiceBusMessage(b"\xff not json"))
    report = ServiceBusRings(QUEUE, bus.client()).take(lambda _: pytest.fail("not a ring"))
    assert report.handled == []
    assert len(report.dead_lettered) == 1
    assert bus.dead_reasons(QUEUE) == ["not a doorbell message"]


def test_a_received_message_body_reads_as_bytes(bus: ServiceBusStandIn) -> None:
    _doorbell(bus).ring("q")
    [received] = bus.client().get_queue_receiver(QUEUE).receive_messages(max_message_count=5)
    assert message_body(received) == b'{"queue":"q"}'
    assert received.delivery_count == 0
    assert received.sequence_number == 1


# -- draining the dead letters ----------------------------------------------------------------
def test_a_drain_rerings_dead_rings_and_leaves_malformed_ones(bus: ServiceBusStandIn) -> None:
    # GIVEN two dead rings for gpu, one for cpu, and one message that is not a doorbell
    for queue in ["gpu", "gpu", "cpu"]:
        bus.inject(QUEUE, ServiceBusMessage(f'{{"queue": "{queue}"}}'), dead=True)
    bus.inject(QUEUE, ServiceBusMessage("hello"), dead=True, reason="not a doorbell message")
    live = InProcessDoorbell()
    dead = ServiceBusDeadLetters(QUEUE, bus.client())
    # WHEN drained
    report = dead.drain(live)
    # THEN each queue was re-rung once per dead message, those are gone, the malformed one stays
    assert sorted(report.rung) == ["cpu", "gpu", "gpu"]
    assert [m for m, _ in report.malformed] == ["4"]
    assert live.wait(0) == {"gpu", "cpu"}
    assert bus.depth(QUEUE, dead=True) == 1
    # AND the receiver was closed, releasing the malformed one for the next look
    assert dead._receiver is None
    assert dead.drain(live).malformed == report.malformed


def test_a_ring_that_fails_keeps_the_dead_message(bus: ServiceBusStandIn) -> None:
    bus.inject(QUEUE, ServiceBusMessage('{"queue": "gpu"}'), dead=True)
    other = ServiceBusStandIn(("other",))
    other.fail_sends(ServiceBusConnectionError(message="down"))
    report = ServiceBusDeadLetters(QUEUE, bus.client()).drain(ServiceBusDoorbell("other", other.client()))
    assert report.rung == []
    assert len(report.failed) == 1
    assert bus.depth(QUEUE, dead=True) == 1


def test_the_dlq_command_drains_a_service_bus_queue(
    bus: ServiceBusStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus.inject(QUEUE, ServiceBusMessage('{"queue": "gpu"}'), dead=True)
    monkeypatch.setattr(
        "launchq.adapters.doorbells.servicebus_dlq.servicebus_client", lambda **_: bus.client()
    )
    source = f"sb://launchq-test.servicebus.windows.net/{QUEUE}/$DeadLetterQueue"
    done = CliRunner().invoke(app, ["dlq", "drain", "--from", source])
    assert done.exit_code == 0, done.output
    assert "gpu: 1 message" in done.stdout
    # the live doorbell defaulted to the dead letters' own queue
    assert (bus.depth(QUEUE), bus.depth(QUEUE, dead=True)) == (1, 0)


@pytest.mark.parametrize(
    ("source", "target", "field"),
    [
        ("sb://nope/q", None, "--from"),
        ("sb://launchq-test.servicebus.windows.net/", None, "--from"),
        ("sb://launchq-test.servicebus.windows.net/q", "sb://other-ns.servicebus.windows.net/q", "--to"),
    ],
)
def test_a_bad_service_bus_source_names_the_flag(source: str, target: str | None, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        endpoints(source, target)
    assert refused.value.field == field


def test_a_queue_url_parses_with_or_without_the_dead_letter_suffix() -> None:
    assert parse_queue_url("sb://ns-test.servicebus.windows.net/q1/$deadletterqueue", "--from") == (
        "ns-test.servicebus.windows.net",
        "q1",
    )
    assert parse_queue_url("sb://ns-test.servicebus.windows.net/q1", "--from")[1] == "q1"


def test_a_settlement_that_fails_is_reported_and_the_rest_of_the_batch_goes_on(
    bus: ServiceBusStandIn,
) -> None:
    doorbell = _doorbell(bus)
    doorbell.ring("a")
    doorbell.ring("b")

    def handle(queue: str) -> None:
        if queue == "a":  # the lock is lost while "a" is handled (e.g. a link reset)
            bus.release(QUEUE, dead=False)

    report = ServiceBusRings(QUEUE, bus.client()).take(handle)
    assert len(report.unsettled) == 2
    assert "MessageLockLostError" in report.unsettled[0][1]
    assert report.handled == []  # "b" lost its lock too: both come back
    assert bus.depth(QUEUE) == 2
