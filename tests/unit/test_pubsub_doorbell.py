"""The Pub/Sub doorbell beyond the contract suite, on a real Pub/Sub emulator (Google's pstest).

What a missing topic, a stopped or hung emulator and missing credentials do to a ring (a
clear BackendUnavailable, never a hang or an SDK traceback), how a dispatcher reads a ring
back, and which cloud SDKs each side loads.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from launchq.adapters.doorbells.pubsub import PubSubDoorbell, check_topic, queue_of
from launchq.adapters.doorbells.sqs import doorbell_body
from launchq.errors import BackendUnavailable, InvalidInput
from tests.gcp_servers import PubSubEmulator, new_topic, pubsub_emulator, pull_rings

REPO = Path(__file__).resolve().parents[2]


def test_a_missing_topic_is_backend_unavailable_naming_the_topic(pubsub_env: str) -> None:
    # GIVEN a project whose doorbell topic exists, and a doorbell set to another topic
    topic, _subscription = new_topic()
    missing = topic.rsplit("/", 1)[0] + "/nowhere"
    # WHEN it rings  THEN the caller gets a 503-kind error naming the topic, not Google's exception
    with pytest.raises(BackendUnavailable) as raised:
        PubSubDoorbell(missing, timeout=5).ring("gpu")
    assert raised.value.field == "doorbell"
    assert f"Pub/Sub Publish to {missing} failed: NotFound" in raised.value.detail


def test_a_ring_is_read_back_by_the_dispatchers_parser(pubsub_env: str) -> None:
    topic, subscription = new_topic()
    PubSubDoorbell(topic).ring("team/gpu ü")  # any queue name survives the trip
    assert pull_rings(subscription) == {"team/gpu ü"}


@pytest.fixture
def own_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[PubSubEmulator, str, str]]:
    """An emulator of this test's own, which it may stop or freeze; with a topic and its subscription."""
    with pubsub_emulator(tmp_path) as emulator:
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator.host)
        yield emulator, *new_topic()


def test_a_stopped_emulator_is_backend_unavailable_not_a_hang(
    own_emulator: tuple[PubSubEmulator, str, str],
) -> None:
    emulator, topic, subscription = own_emulator
    doorbell = PubSubDoorbell(topic, timeout=2)
    doorbell.ring("gpu")
    assert pull_rings(subscription) == {"gpu"}
    # WHEN the emulator goes away mid-test  THEN the next ring fails within its timeout
    emulator.stop()
    with pytest.raises(BackendUnavailable, match=r"Pub/Sub Publish to .* failed") as raised:
        doorbell.ring("gpu")
    assert raised.value.field == "doorbell"


def test_a_hung_emulator_is_backend_unavailable_once_the_timeout_passes(
    own_emulator: tuple[PubSubEmulator, str, str],
) -> None:
    emulator, topic, _subscription = own_emulator
    doorbell = PubSubDoorbell(topic, timeout=1)
    # GIVEN an emulator that accepts connections but never answers (frozen)
    emulator.process.send_signal(signal.SIGSTOP)
    try:
        # THEN a ring gives up when its deadline passes (pytest-timeout would catch a hang)
        with pytest.raises(BackendUnavailable, match=r"DeadlineExceeded|RetryError"):
            doorbell.ring("gpu")
    finally:
        emulator.process.send_signal(signal.SIGCONT)


def test_no_credentials_is_backend_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN no emulator and Application Default Credentials pointing at a file that is not there
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    monkeypatch.setenv("NO_GCE_CHECK", "true")  # never ask a metadata server
    with pytest.raises(BackendUnavailable, match="building the Pub/Sub client failed: DefaultCredentials"):
        PubSubDoorbell("projects/p-1/topics/doorbell").ring("gpu")


@pytest.mark.parametrize(
    "topic",
    [
        "doorbell",
        "topics/doorbell",
        "projects/p-1/topics/ab",  # a topic id has at least 3 characters
        "projects/p-1/topics/1abc",  # and starts with a letter
        "projects/p-1/subscriptions/dispatcher",
        "projects//topics/doorbell",
        "projects/p-1/topics/door bell",
    ],
)
def test_a_topic_that_is_not_a_full_path_is_refused_at_construction(topic: str) -> None:
    with pytest.raises(ValueError, match="projects/<project>/topics/<topic>"):
        PubSubDoorbell(topic)


def test_topic_paths_pubsub_accepts_are_accepted() -> None:
    for topic in ("projects/my-proj/topics/doorbell", "projects/example.com:proj/topics/a.b~c+d%e_f-g"):
        assert check_topic(topic) == topic
    with pytest.raises(ValueError, match="timeout"):
        PubSubDoorbell("projects/p-1/topics/doorbell", timeout=0)


def test_message_data_that_is_not_a_doorbell_is_invalid_input() -> None:
    assert queue_of(doorbell_body("gpu").encode()) == "gpu"
    assert queue_of(b'{"queue": "gpu", "newer": 1}') == "gpu"  # rolling deployments: extra keys ignored
    for data in (b"\xff\xfe", b"gpu", b'{"queue": 5}', b"{}"):
        with pytest.raises(InvalidInput) as raised:
            queue_of(data)
        assert raised.value.field == "doorbell"


# -- which SDKs each side loads -----------------------------------------------------------
def _modules_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """Top-level packages of every module ``code`` loads in a fresh interpreter.

    What the interpreter loaded before ``code`` ran is left out: site's ``*-nspkg.pth`` files
    (functions-framework, google-cloud-aiplatform) create the empty ``google`` and
    ``google.cloud`` namespaces at start, which is no SDK; ``google.auth`` or
    ``google.cloud.pubsub_v1`` loaded by ``code`` still count as ``google``."""
    probe = (
        f"import sys\n_start = set(sys.modules)\n{code}\nimport json\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - _start})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_aws_side_loads_no_google_module() -> None:
    # The SQS doorbell and every Lambda handler: a cold start on AWS loads nothing of Google.
    loaded = _modules_after(
        "import launchq.adapters.doorbells.sqs, functions.aws.api, functions.aws.dispatcher, "
        "functions.aws.reconciler, functions.aws.events"
    )
    assert "launchq" in loaded
    assert "boto3" in loaded
    assert {"google", "grpc", "azure"}.isdisjoint(loaded)


def test_the_pubsub_doorbell_loads_google_only_when_it_rings_and_never_aws(pubsub_env: str) -> None:
    topic, _subscription = new_topic()
    assert {"google", "grpc"}.isdisjoint(_modules_after("import launchq.adapters.doorbells.pubsub"))
    ring = (
        f"from launchq.adapters.doorbells.pubsub import PubSubDoorbell\nPubSubDoorbell({topic!r}).ring('q')"
    )
    loaded = _modules_after(ring, {"PUBSUB_EMULATOR_HOST": pubsub_env})
    assert {"google", "grpc"} <= loaded
    assert {"boto3", "botocore", "azure"}.isdisjoint(loaded)
