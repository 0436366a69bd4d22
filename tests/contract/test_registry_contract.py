"""The Registry contract: one suite, run against every registry adapter.

- ``oci``: Debian's docker-registry (real, plain HTTP on 127.0.0.1); images are put in
  with the distribution API itself (a config blob, then a manifest under the tag).
- ``ecr``: the ECR API of a real moto server over HTTP (PutImage puts an image in).
- ``gcr`` / ``acr``: no local server exists for Artifact Registry or ACR; their ``endpoint``
  points at ``ChallengeRegistry`` (``tests/registry_servers.py``), which speaks the Bearer
  challenge, token and ACR exchange protocol, as in ``tests/integration/test_registries.py``.
- ``fake``: the package's ``FakeRegistry``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import boto3
import httpx
import pytest
from botocore.config import Config

from launchq.adapters.registries.acr import USERNAME as ACR_USERNAME
from launchq.adapters.registries.acr import AzureContainerRegistry
from launchq.adapters.registries.ecr import EcrRegistry
from launchq.adapters.registries.fake import FakeRegistry
from launchq.adapters.registries.gcr import USERNAME as GCR_USERNAME
from launchq.adapters.registries.gcr import ArtifactRegistry
from launchq.adapters.registries.oci import OciRegistry
from launchq.errors import BackendUnavailable, InvalidInput
from launchq.ports import Registry
from tests.registry_servers import ChallengeRegistry
from tests.servers import free_port

ECR_REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/train"
GCR_REPO = "us-central1-docker.pkg.dev/proj/repo/img"
ACR_REPO = "launchqtest.azurecr.io/team/app"
GCR_TOKEN, AAD_TOKEN, ACR_REFRESH = "ya29.contract-token", "aad-contract-token", "acr-contract-refresh"


@dataclass
class RegistryUnderTest:
    registry: Registry
    repository: str  # the image URI of a tag is ``<repository>:<tag>``
    push: Callable[[str], object]  # puts an image under a tag, as a builder's push does
    unreachable: Callable[[], Registry]  # the same registry, its server gone


def _oci_push(host: str, repository: str) -> Callable[[str], None]:
    """Push an empty image (config blob + manifest) under a tag with the distribution API."""

    def push(tag: str) -> None:
        config = b"{}"
        digest = "sha256:" + hashlib.sha256(config).hexdigest()
        with httpx.Client(base_url=f"http://{host}", timeout=10) as client:
            upload = client.post(f"/v2/{repository}/blobs/uploads/")
            assert upload.status_code == 202, upload.text
            location = upload.headers["Location"]  # carries the upload's state in its query
            joined = "&" if "?" in location else "?"
            done = client.put(f"{location}{joined}digest={digest}", content=config)
            assert done.status_code == 201, done.text
            manifest = {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": digest,
                    "size": 2,
                },
                "layers": [],
            }
            put = client.put(
                f"/v2/{repository}/manifests/{tag}",
                content=json.dumps(manifest),
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            )
            assert put.status_code == 201, put.text

    return push


def _oci(host: str) -> RegistryUnderTest:
    path = f"contract/{uuid.uuid4().hex[:8]}"
    return RegistryUnderTest(
        OciRegistry(f"{host}/{path}", insecure=True),
        f"{host}/{path}",
        _oci_push(host, path),
        lambda: OciRegistry(f"127.0.0.1:{free_port()}/{path}", insecure=True, timeout=2),
    )


def _ecr() -> RegistryUnderTest:
    client = boto3.client("ecr")  # AWS_ENDPOINT_URL points it at moto
    client.create_repository(repositoryName="team/train")

    def push(tag: str) -> None:
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 2,
                "digest": "sha256:" + hashlib.sha256(tag.encode()).hexdigest(),
            },
            "layers": [],
        }
        client.put_image(repositoryName="team/train", imageManifest=json.dumps(manifest), imageTag=tag)

    def unreachable() -> Registry:
        config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2)
        dead = boto3.client("ecr", endpoint_url=f"http://127.0.0.1:{free_port()}", config=config)
        return EcrRegistry(ECR_REPO, client=dead)

    return RegistryUnderTest(EcrRegistry(ECR_REPO, client=client), ECR_REPO, push, unreachable)


def _gcr(stub: ChallengeRegistry) -> RegistryUnderTest:
    def at(endpoint: str) -> Registry:
        return ArtifactRegistry(f"https://{GCR_REPO}", token_provider=lambda: GCR_TOKEN, endpoint=endpoint)

    return RegistryUnderTest(
        at(stub.url),
        GCR_REPO,
        stub.tags["proj/repo/img"].add,
        lambda: at(f"http://127.0.0.1:{free_port()}"),
    )


def _acr(stub: ChallengeRegistry) -> RegistryUnderTest:
    def at(endpoint: str) -> Registry:
        return AzureContainerRegistry(
            f"https://{ACR_REPO}", aad_token_provider=lambda: AAD_TOKEN, endpoint=endpoint
        )

    return RegistryUnderTest(
        at(stub.url),
        ACR_REPO,
        stub.tags["team/app"].add,
        lambda: at(f"http://127.0.0.1:{free_port()}"),
    )


def _fake() -> RegistryUnderTest:
    registry = FakeRegistry("registry.test/team/train")

    def unreachable() -> Registry:
        gone = FakeRegistry("registry.test/team/train")
        gone.unavailable = "connection refused"
        return gone

    return RegistryUnderTest(registry, "registry.test/team/train", registry.push, unreachable)


@pytest.fixture(params=["oci", "ecr", "gcr", "acr", "fake"])
def under_test(request: pytest.FixtureRequest) -> Iterator[RegistryUnderTest]:
    if request.param == "oci":
        yield _oci(request.getfixturevalue("oci_registry"))
    elif request.param == "ecr":
        request.getfixturevalue("aws_env")  # moto, reset for this test
        yield _ecr()
    elif request.param == "gcr":
        with ChallengeRegistry(
            service="us-central1-docker.pkg.dev",
            username=GCR_USERNAME,
            password=GCR_TOKEN,
            tags={"proj/repo/img": set()},
        ) as stub:
            yield _gcr(stub)
    elif request.param == "acr":
        with ChallengeRegistry(
            service="launchqtest.azurecr.io",
            username=ACR_USERNAME,
            password=ACR_REFRESH,
            tags={"team/app": set()},
            aad_token=AAD_TOKEN,
            refresh_token=ACR_REFRESH,
        ) as stub:
            yield _acr(stub)
    else:
        yield _fake()


def new_tag() -> str:
    return uuid.uuid4().hex[:24]  # the shape of launchq's content-hash tags


def test_the_image_uri_of_a_tag_is_the_repository_and_the_tag(under_test: RegistryUnderTest) -> None:
    tag = new_tag()
    assert under_test.registry.image_uri(tag) == f"{under_test.repository}:{tag}"


@pytest.mark.parametrize("tag", ["", "-leading-dash", "has/slash", "a" * 129, "sp ace", "tag:colon"])
def test_a_malformed_tag_is_refused_before_any_call(under_test: RegistryUnderTest, tag: str) -> None:
    # a tag the OCI grammar forbids never reaches a URL or an API call, even on a dead registry
    for registry in (under_test.registry, under_test.unreachable()):
        with pytest.raises(InvalidInput) as refused:
            registry.image_uri(tag)
        assert refused.value.field == "tag"
        with pytest.raises(InvalidInput):
            registry.exists(tag)


def test_a_pushed_tag_exists_and_others_do_not(under_test: RegistryUnderTest) -> None:
    # GIVEN a registry holding one pushed tag
    pushed, other = new_tag(), new_tag()
    assert not under_test.registry.exists(pushed)
    under_test.push(pushed)
    # THEN that tag exists, and a tag never pushed does not
    assert under_test.registry.exists(pushed)
    assert not under_test.registry.exists(other)


def test_credentials_are_none_or_for_this_registry_and_never_shown(under_test: RegistryUnderTest) -> None:
    credentials = under_test.registry.credentials()
    if credentials is None:  # an open registry, or the builder's own login
        return
    assert credentials.server == under_test.repository.split("/", 1)[0]
    assert credentials.username
    assert credentials.password
    assert credentials.password not in repr(credentials)


def test_an_unreachable_registry_is_backend_unavailable(under_test: RegistryUnderTest) -> None:
    # GIVEN the registry's server gone  WHEN a tag is looked up  THEN launchq's own error
    with pytest.raises(BackendUnavailable) as caught:
        under_test.unreachable().exists(new_tag())
    assert caught.value.detail
    for secret in (GCR_TOKEN, AAD_TOKEN, ACR_REFRESH, "testing"):
        assert secret not in str(caught.value)
