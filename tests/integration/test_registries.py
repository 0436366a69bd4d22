"""The registry adapters against real servers.

- ``OciRegistry``: Debian's docker-registry (open, and with htpasswd users).
- ``EcrRegistry``: the moto server over HTTP (CreateRepository, PutImage, DescribeImages,
  GetAuthorizationToken, STS GetCallerIdentity).
- ``ArtifactRegistry`` / ``AzureContainerRegistry``: no local server exists for either, so
  they are tested at the client boundary: their credential provider is injected and their
  ``endpoint`` points at ``ChallengeRegistry``, a small HTTP server on 127.0.0.1 that speaks
  the Bearer challenge / token / ACR exchange protocol and checks what it is sent.
"""

from __future__ import annotations

import base64
import json
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config

from launchq.adapters.registries import (
    ArtifactRegistry,
    AzureContainerRegistry,
    EcrRegistry,
    OciRegistry,
    registry_from_config,
)
from launchq.adapters.registries.acr import USERNAME as ACR_USERNAME
from launchq.adapters.registries.gcr import USERNAME as GCR_USERNAME
from launchq.adapters.registries.gcr import GoogleAccessToken
from launchq.adapters.registries.oci import MANIFEST_MEDIA_TYPES
from launchq.domain.launch_config_blocks import OciRegistryConfig
from launchq.errors import BackendUnavailable, InvalidInput
from launchq.ports import RegistryCredentials
from tests.registry_servers import ChallengeRegistry, docker_registry
from tests.servers import free_port

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

pytestmark = pytest.mark.integration

MOTO_ACCOUNT = "123456789012"


# --------------------------------------------------------------------------- OCI (docker-registry)


def test_oci_missing_tag_is_false_and_pushed_tag_is_true(oci_registry: str, base_image: str) -> None:
    # GIVEN the session registry holding base:1
    base = OciRegistry(f"{oci_registry}/base", insecure=True)
    # THEN the pushed tag exists, another tag and an unknown repository do not
    assert base.exists("1")
    assert not base.exists("2")
    assert not OciRegistry(f"{oci_registry}/team/never-pushed", insecure=True).exists("1")
    assert base.image_uri("1") == base_image
    assert base.credentials() is None


def test_oci_from_config_uses_plain_http_on_loopback(oci_registry: str, base_image: str) -> None:
    registry = registry_from_config(OciRegistryConfig(type="oci", uri=f"{oci_registry}/base"))
    assert isinstance(registry, OciRegistry)
    assert registry.endpoint == f"http://{oci_registry}"
    assert registry.exists("1")


def test_oci_server_down_is_backend_unavailable() -> None:
    registry = OciRegistry(f"127.0.0.1:{free_port()}/team/app", insecure=True, timeout=2)
    with pytest.raises(BackendUnavailable, match="unreachable"):
        registry.exists("1")


def test_oci_basic_auth_registry(tmp_path: Path) -> None:
    # GIVEN a registry requiring htpasswd users
    password = f"pw-{uuid.uuid4().hex}"
    with docker_registry(tmp_path, users={"ci": password}) as host:
        good = RegistryCredentials(username="ci", password=password, server=host)
        bad = RegistryCredentials(username="ci", password="wrong-" + password, server=host)
        # THEN with credentials a missing tag is False; without or with wrong ones it is refused
        assert not OciRegistry(f"{host}/team/app", insecure=True, credentials=good).exists("1")
        with pytest.raises(BackendUnavailable, match="needs credentials"):
            OciRegistry(f"{host}/team/app", insecure=True).exists("1")
        with pytest.raises(BackendUnavailable, match="credentials refused") as refused:
            OciRegistry(f"{host}/team/app", insecure=True, credentials=bad).exists("1")
        assert password not in str(refused.value)


def test_oci_refuses_a_malformed_tag(oci_registry: str) -> None:
    with pytest.raises(InvalidInput) as error:
        OciRegistry(f"{oci_registry}/base", insecure=True).exists("../x")
    assert error.value.field == "tag"


# --------------------------------------------------------------------------- ECR (moto)


def _manifest(seed: str) -> str:
    digest = "sha256:" + uuid.uuid5(uuid.NAMESPACE_URL, seed).hex * 2
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 2,
                "digest": digest,
            },
            "layers": [],
        }
    )


@pytest.fixture
def ecr(aws_env: dict[str, str]) -> ECRClient:
    client = boto3.client("ecr")  # AWS_ENDPOINT_URL points it at moto
    client.create_repository(repositoryName="team/train")
    client.put_image(repositoryName="team/train", imageManifest=_manifest("abc"), imageTag="abc123")
    return client


def test_ecr_exists_from_uri(ecr: ECRClient) -> None:
    registry = EcrRegistry(f"{MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/team/train", client=ecr)
    assert registry.region == "us-east-1"
    assert registry.exists("abc123")
    assert not registry.exists("def456")
    assert registry.image_uri("abc123") == f"{MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/team/train:abc123"


def test_ecr_repository_name_asks_sts_for_the_account(ecr: ECRClient) -> None:
    # GIVEN only a repository name: region from the environment, account from STS (moto)
    registry = EcrRegistry(repository="team/train")
    assert registry.image_uri("abc123") == f"{MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/team/train:abc123"
    assert registry.exists("abc123")


def test_ecr_missing_repository_is_invalid_input(ecr: ECRClient) -> None:
    with pytest.raises(InvalidInput, match="'team/nope'") as error:
        EcrRegistry(repository="team/nope", client=ecr).exists("abc123")
    assert error.value.field == "registry.uri"


def test_ecr_credentials_decode_the_authorization_token(ecr: ECRClient) -> None:
    answer = ecr.get_authorization_token()["authorizationData"][0]
    registry = EcrRegistry(f"{MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/team/train", client=ecr)
    credentials = registry.credentials()
    user, _, password = base64.b64decode(answer["authorizationToken"]).decode().partition(":")
    assert (credentials.username, credentials.password) == (user, password) == ("AWS", password)
    assert password
    assert credentials.server == answer["proxyEndpoint"].removeprefix("https://")
    assert password not in repr(credentials)


def test_ecr_unreachable_is_backend_unavailable(aws_env: dict[str, str]) -> None:
    config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2)
    client = boto3.client("ecr", endpoint_url=f"http://127.0.0.1:{free_port()}", config=config)
    registry = EcrRegistry(repository="team/train", client=client)
    with pytest.raises(BackendUnavailable, match="DescribeImages"):
        registry.exists("abc123")


def test_ecr_uri_and_parts_must_agree() -> None:
    with pytest.raises(InvalidInput, match="region"):
        EcrRegistry(f"{MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/team/train", region="eu-west-1")
    with pytest.raises(InvalidInput):
        EcrRegistry()


# --------------------------------------------------------------------------- Artifact Registry, ACR


def test_artifact_registry_challenge_flow() -> None:
    calls: list[str] = []

    def token() -> str:
        calls.append("token")
        return "ya29.access-token"

    with ChallengeRegistry(
        service="us-central1-docker.pkg.dev",
        username=GCR_USERNAME,
        password="ya29.access-token",
        tags={"proj/repo/img": {"v1"}},
    ) as stub:
        registry = ArtifactRegistry(
            "https://us-central1-docker.pkg.dev/proj/repo/img", token_provider=token, endpoint=stub.url
        )
        assert registry.image_uri("v1") == "us-central1-docker.pkg.dev/proj/repo/img:v1"
        assert calls == []  # credentials are fetched only when the registry asks
        assert registry.exists("v1")
        assert not registry.exists("v2")
    head, get, retry = stub.requests[:3]
    assert (head["method"], head["path"], head["authorization"]) == (
        "HEAD",
        "/v2/proj/repo/img/manifests/v1",
        "",
    )
    assert set(head["accept"].split(", ")) == set(MANIFEST_MEDIA_TYPES)
    assert get["query"] == {"service": "us-central1-docker.pkg.dev", "scope": "repository:proj/repo/img:pull"}
    assert retry["authorization"] == f"Bearer {stub.issued}"


def test_artifact_registry_refused_token_names_no_secret() -> None:
    with ChallengeRegistry(
        service="europe-west4-docker.pkg.dev", username=GCR_USERNAME, password="right", tags={}
    ) as stub:
        registry = ArtifactRegistry(
            repository="repo",
            image_name="img",
            project="proj",
            region="europe-west4",
            token_provider=lambda: "wrong-token-value",
            endpoint=stub.url,
        )
        with pytest.raises(BackendUnavailable, match="credentials refused") as error:
            registry.exists("v1")
    assert "wrong-token-value" not in str(error.value)


def test_artifact_registry_without_google_auth_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.auth", None)  # as if google-auth were not installed
    with pytest.raises(BackendUnavailable, match="pip install google-auth"):
        GoogleAccessToken()()


def test_acr_exchanges_the_aad_token_then_answers_the_challenge() -> None:
    with ChallengeRegistry(
        service="launchqtest.azurecr.io",
        username=ACR_USERNAME,
        password="acr-refresh-token",
        tags={"team/app": {"v1"}},
        aad_token="aad-access-token",
        refresh_token="acr-refresh-token",
    ) as stub:
        registry = AzureContainerRegistry(
            "https://launchqtest.azurecr.io/team/app",
            aad_token_provider=lambda: "aad-access-token",
            endpoint=stub.url,
        )
        assert registry.image_uri("v1") == "launchqtest.azurecr.io/team/app:v1"
        assert registry.exists("v1")
        assert not registry.exists("v9")
        credentials = registry.credentials()
    assert (credentials.username, credentials.password, credentials.server) == (
        ACR_USERNAME,
        "acr-refresh-token",
        "launchqtest.azurecr.io",
    )
    exchange = next(request for request in stub.requests if request["path"] == "/oauth2/exchange")
    assert exchange["form"] == {
        "grant_type": "access_token",
        "service": "launchqtest.azurecr.io",
        "access_token": "aad-access-token",
    }


def test_acr_refused_aad_token_is_backend_unavailable() -> None:
    with ChallengeRegistry(
        service="launchqtest.azurecr.io",
        username=ACR_USERNAME,
        password="r",
        tags={},
        aad_token="the-right-one",
        refresh_token="r",
    ) as stub:
        registry = AzureContainerRegistry(
            "launchqtest.azurecr.io/team/app", aad_token_provider=lambda: "stale-aad", endpoint=stub.url
        )
        with pytest.raises(BackendUnavailable, match="AAD token refused") as error:
            registry.exists("v1")
    assert "stale-aad" not in str(error.value)
