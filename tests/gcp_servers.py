"""Google Cloud's real local servers for tests: Pub/Sub's ``pstest`` fake.

``pstest`` is Google's own Pub/Sub fake, the Go package that Debian ships in
``golang-google-cloud-dev`` (installed with ``golang-go`` by ``make setup``). The ~25-line
``infra/emulators/pstest/main.go`` serves it on an address; it is built here on first use
into ``build/pstest/<digest of main.go>/`` (a minute at most, then cached). Missing Go or
the Go sources mean a broken set-up, so this raises, never skips.

The helpers speak to the emulator through the same SDK the adapter uses, over the address
in ``PUBSUB_EMULATOR_HOST`` (set by the ``pubsub_env`` fixture).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

from launchq.adapters.doorbells.pubsub import queue_of
from tests.servers import _wait_port, free_port, stop_process

REPO = Path(__file__).resolve().parent.parent
PSTEST_MAIN = REPO / "infra" / "emulators" / "pstest" / "main.go"
GOCODE = Path("/usr/share/gocode")  # Debian's Go sources: golang-google-cloud-dev and its dependencies
BUILD = REPO / "build" / "pstest"


def pstest_binary() -> Path:
    """The built emulator, built now when this ``main.go`` has not been built yet."""
    digest = hashlib.sha256(PSTEST_MAIN.read_bytes()).hexdigest()[:12]
    binary = BUILD / digest / "pstest"
    if binary.is_file():
        return binary
    go = shutil.which("go")
    if go is None or not (GOCODE / "src" / "cloud.google.com" / "go" / "pubsub" / "pstest").is_dir():
        raise RuntimeError("pstest needs apt's golang-go and golang-google-cloud-dev; run `make setup`")
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(f"pstest.{os.getpid()}.partial")
    env = {
        **os.environ,
        "GO111MODULE": "off",  # Debian's sources are a GOPATH tree, not modules
        "GOPATH": f"{BUILD / 'gopath'}:{GOCODE}",
        "GOCACHE": str(BUILD / "gocache"),
        "GOFLAGS": "",
    }
    built = subprocess.run(
        [go, "build", "-o", str(partial), str(PSTEST_MAIN)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if built.returncode != 0:
        raise RuntimeError(f"building pstest failed:\n{built.stdout}{built.stderr}")
    partial.replace(binary)  # atomic: a concurrent session sees a whole binary or none
    return binary


@dataclass
class PubSubEmulator:
    """A running pstest: ``host`` is what ``PUBSUB_EMULATOR_HOST`` takes."""

    host: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        stop_process(self.process)


@contextmanager
def pubsub_emulator(workdir: Path) -> Iterator[PubSubEmulator]:
    """pstest on a free port of 127.0.0.1, stopped (by its PID) at the end."""
    binary = pstest_binary()
    port = free_port()
    log = workdir / f"pstest-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), "-addr", f"127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_port(port, process, log)
        yield PubSubEmulator(f"127.0.0.1:{port}", process)
    finally:
        stop_process(process)


def new_topic() -> tuple[str, str]:
    """A topic with one pull subscription, in a project of its own (tests share the emulator).

    Returns the topic's and the subscription's paths.
    """
    from google.pubsub_v1 import PublisherClient, SubscriberClient

    project = f"launchq-{uuid4().hex[:12]}"
    topic = f"projects/{project}/topics/doorbell"
    subscription = f"projects/{project}/subscriptions/dispatcher"
    PublisherClient().create_topic(name=topic, timeout=10)
    # pstest's copy needs an explicit ack deadline (LOCAL_STACK.md).
    SubscriberClient().create_subscription(
        name=subscription, topic=topic, ack_deadline_seconds=10, timeout=10
    )
    return topic, subscription


def pull_rings(subscription: str) -> set[str]:
    """The queues rung since the last look: pull until a pull comes back empty, ack each.

    pstest holds an empty pull for half a second before answering it, so nothing published
    before the call is missed.
    """
    from google.pubsub_v1 import SubscriberClient

    client, rung = SubscriberClient(), set[str]()
    while received := client.pull(subscription=subscription, max_messages=100, timeout=10).received_messages:
        rung.update(queue_of(item.message.data) for item in received)
        client.acknowledge(subscription=subscription, ack_ids=[item.ack_id for item in received], timeout=10)
    return rung
