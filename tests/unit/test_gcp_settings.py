"""The GCP functions' settings: a bad environment fails the cold start naming the variable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from launchq.adapters.code_stores.gcs import GcsCodeStore
from launchq.gcp.settings import GcpSettings
from launchq.gcp.wiring import LazyClient, code_store

BASE = {
    "LAUNCHQ_GCP_PROJECT": "launchq-test1",
    "LAUNCHQ_DOORBELL_TOPIC": "projects/launchq-test1/topics/doorbell",
}


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> GcpSettings:
    for key in ["GOOGLE_CLOUD_PROJECT", "LAUNCHQ_TARGETS", "LAUNCHQ_VERTEX_ENDPOINT", "LAUNCHQ_CODE_BUCKET"]:
        monkeypatch.delenv(key, raising=False)
    for key, value in {**BASE, **env}.items():
        monkeypatch.setenv(key, value)
    return GcpSettings()


def test_defaults_and_comma_separated_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, LAUNCHQ_TARGETS="vertex, kubernetes")
    assert settings.targets == ["vertex", "kubernetes"]
    assert settings.vertex_api_endpoint() == "us-central1-aiplatform.googleapis.com"
    assert (settings.lease_seconds, settings.firestore_database) == (600, "(default)")
    assert settings.service.lease_seconds == 600


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LAUNCHQ_TARGETS": "vertex,sagemaker"}, "targets"),
        ({"LAUNCHQ_DOORBELL_TOPIC": "doorbell"}, "projects/<project>/topics/<topic>"),
        ({"LAUNCHQ_VERTEX_ENDPOINT": "http://vertex.example.com"}, "loopback"),
        ({"LAUNCHQ_IMAGE_REPOSITORY": "us-docker.pkg.dev/p/r"}, "LAUNCHQ_BUILD_CLUSTER"),
        ({"LAUNCHQ_GCP_PROJECT": "X"}, "GCP_PROJECT"),
        ({"LAUNCHQ_CODE_BUCKET": "gs://launchq-code"}, "code_bucket"),  # a bucket's name, not a URL
    ],
)
def test_a_bad_environment_is_refused_naming_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        _settings(monkeypatch, **env)
    assert named in str(refused.value)


def test_uploads_go_to_the_code_bucket_under_code_and_without_one_there_is_no_code_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert code_store(_settings(monkeypatch)) is None
    store = code_store(_settings(monkeypatch, LAUNCHQ_CODE_BUCKET="launchq-test1-launchq-code"))
    assert isinstance(store, GcsCodeStore)
    assert (store.bucket_name, store.prefix, store.project) == (
        "launchq-test1-launchq-code",
        "code/",
        "launchq-test1",
    )
    assert store.key("ab" * 32) == f"code/{'ab' * 32}.tar.gz"


def test_a_loopback_http_endpoint_is_a_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, LAUNCHQ_VERTEX_ENDPOINT="http://127.0.0.1:8123")
    assert settings.vertex_api_endpoint() == "http://127.0.0.1:8123"


def test_the_lazy_client_is_built_once_at_its_first_call() -> None:
    built: list[int] = []

    def factory() -> dict[str, int]:
        built.append(1)
        return {"a": 1}

    client = LazyClient(factory)
    assert built == []
    assert client.get("a") == 1
    assert client.get("b") is None
    assert built == [1]
