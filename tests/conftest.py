"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import hypothesis
import pytest

from tests.gcp_servers import PubSubEmulator, pubsub_emulator
from tests.servers import azurite_blob, azurite_tables, dynamodb_local, launchq_serve, moto_server

REPO = Path(__file__).resolve().parent.parent

# Property tests never assert speed (no deadline); in CI they are derandomised, so a red run
# replays the same examples everywhere (and keep no example database between runs).
hypothesis.settings.register_profile(
    "launchq", deadline=None, print_blob=True, derandomize=os.environ.get("CI") == "true"
)
hypothesis.settings.load_profile("launchq")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A real ``launchq serve`` process on a free port with its own data directory."""
    with launchq_serve(tmp_path / "data") as base:
        yield base


@pytest.fixture
def api(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def dynamodb_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One DynamoDB Local for the test session; tests use their own table names."""
    with dynamodb_local(tmp_path_factory.mktemp("dynamodb")) as url:
        yield url


@pytest.fixture(scope="session")
def moto_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


@pytest.fixture(scope="session")
def azurite_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Azurite blob service for the session (its account URL); tests use their own containers."""
    with azurite_blob(tmp_path_factory.mktemp("azurite")) as url:
        yield url


@pytest.fixture(scope="session")
def azurite_tables_conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Azurite table service for the session (a connection string); tests use their own table prefix."""
    with azurite_tables(tmp_path_factory.mktemp("azurite-tables")) as conn:
        yield conn


@pytest.fixture(scope="session")
def pubsub_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PubSubEmulator]:
    """One Pub/Sub emulator (pstest) for the session; tests use projects of their own."""
    with pubsub_emulator(tmp_path_factory.mktemp("pstest")) as emulator:
        yield emulator


@pytest.fixture
def pubsub_env(monkeypatch: pytest.MonkeyPatch, pubsub_session: PubSubEmulator) -> str:
    """Point every Google Pub/Sub client of the process at the emulator; its host."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_session.host)
    return pubsub_session.host


@pytest.fixture
def moto_url(moto_session: str) -> str:
    """The moto server, reset to empty before the test."""
    httpx.post(f"{moto_session}/moto-api/reset", timeout=10).raise_for_status()
    return moto_session


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_url: str, dynamodb_url: str) -> dict[str, str]:
    """Point every boto3 client of the process at the local servers (no real AWS reachable)."""
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_url,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
