"""Registry URIs as W&B Launch accepts and refuses them (``validate_registry_uri``), plus
launchq's stricter checks."""

from __future__ import annotations

import pytest

from launchq.adapters.registries import is_loopback, registry_from_config
from launchq.adapters.registries.uri import (
    artifact_registry_uri,
    ecr_uri,
    parse_registry_uri,
    registry_kind,
    split_host,
)
from launchq.domain.launch_config_blocks import AcrRegistryConfig, GcrRegistryConfig, LocalRegistryConfig
from launchq.errors import InvalidInput


@pytest.mark.parametrize(
    ("uri", "kind", "host", "path"),
    [
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo",
            "ecr",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "my-repo",
        ),
        (
            "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/train",
            "ecr",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "team/train",
        ),
        (
            "us-central1-docker.pkg.dev/my-project/my-repo/my-image",
            "gcr",
            "us-central1-docker.pkg.dev",
            "my-project/my-repo/my-image",
        ),
        ("https://europe-docker.pkg.dev/proj/repo/img/", "gcr", "europe-docker.pkg.dev", "proj/repo/img"),
        ("https://myregistry.azurecr.io/my-repository", "acr", "myregistry.azurecr.io", "my-repository"),
        ("MyRegistry.azurecr.io/team/app", "acr", "myregistry.azurecr.io", "team/app"),
        ("127.0.0.1:5000/team/img", "oci", "127.0.0.1:5000", "team/img"),
        ("localhost/img", "oci", "localhost", "img"),
        ("ghcr.io/org/app", "oci", "ghcr.io", "org/app"),
        ("docker.io/user/app", "oci", "docker.io", "user/app"),
    ],
)
def test_accepted(uri: str, kind: str, host: str, path: str) -> None:
    parsed = parse_registry_uri(uri)
    assert (parsed.kind, parsed.host, parsed.path) == (kind, host, path)
    assert parsed.uri == f"{host}/{path}"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo:latest", "must not include a tag"),
        ("us-central1-docker.pkg.dev/proj/repo/img:v1", "must not include a tag"),
        ("https://myregistry.azurecr.io/my-repository:1.0", "must not include a tag"),
        ("127.0.0.1:5000/team/img:dev", "must not include a tag"),
        ("127.0.0.1:5000/team/img@sha256:" + "a" * 64, "must not include a tag or digest"),
        # W&B: an Artifact Registry URI needs an image name
        ("us-central1-docker.pkg.dev/proj/repo", "an image name is required"),
        # W&B's docs once wrote ECR URIs without `dkr`: refused with the right form
        ("123456789012.ecr.us-east-1.amazonaws.com/my-repo", "dkr.ecr"),
        ("12345.dkr.ecr.us-east-1.amazonaws.com/my-repo", "dkr.ecr"),
        # ACR names are 5-50 letters and digits
        ("https://my-registry.azurecr.io/my-repository", "azurecr.io/<repository>"),
        ("127.0.0.1:5000", "must name a registry host and a repository"),
        ("127.0.0.1:5000/", "must name a registry host and a repository"),
        ("team/img", "does not start with a registry host"),
        ("http://127.0.0.1:5000/team/img", "only an https:// prefix"),
        ("127.0.0.1:5000/Team/Img", "not a valid repository name part"),
        ("127.0.0.1:5000/team//img", "not a valid repository name part"),
    ],
)
def test_refused(uri: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as error:
        parse_registry_uri(uri)
    assert error.value.field == "registry.uri"


def test_ecr_parts() -> None:
    parsed = parse_registry_uri("210987654321.dkr.ecr.ap-southeast-2.amazonaws.com/ml/train", expect="ecr")
    assert (parsed.account, parsed.region, parsed.repository) == (
        "210987654321",
        "ap-southeast-2",
        "ml/train",
    )
    assert ecr_uri("210987654321", "ap-southeast-2", "ml/train") == parsed.uri


def test_artifact_registry_parts() -> None:
    parsed = parse_registry_uri("us-central1-docker.pkg.dev/proj/repo/img", expect="gcr")
    assert (parsed.region, parsed.project, parsed.repository) == ("us-central1", "proj", "repo")
    assert artifact_registry_uri("us-central1", "proj", "repo", "img") == parsed.uri


def test_acr_parts() -> None:
    parsed = parse_registry_uri("https://launchq01.azurecr.io/team/app", expect="acr")
    assert (parsed.name, parsed.repository) == ("launchq01", "team/app")


def test_expected_kind_is_enforced() -> None:
    with pytest.raises(InvalidInput, match=r"<account-id>\.dkr\.ecr"):
        parse_registry_uri("127.0.0.1:5000/team/img", expect="ecr")
    with pytest.raises(InvalidInput, match=r"docker\.pkg\.dev"):
        parse_registry_uri("ghcr.io/proj/img", expect="gcr")


def test_split_host() -> None:
    assert split_host("https://127.0.0.1:5000/team/img") == ("127.0.0.1:5000", "team/img")
    assert split_host("myregistry.azurecr.io/app") == ("myregistry.azurecr.io", "app")


def test_loopback_hosts() -> None:
    assert is_loopback("127.0.0.1:5000")
    assert is_loopback("localhost")
    assert not is_loopback("ghcr.io")
    assert not is_loopback("registry.example.com:5000")


def test_registry_from_config_builds_without_cloud_sdks() -> None:
    # GIVEN the W&B documented blocks: adapters build without google-auth or azure-identity
    gcr = registry_from_config(
        GcrRegistryConfig(type="gcr", repository="repo", image_name="img", project="proj", region="us-east1")
    )
    acr = registry_from_config(AcrRegistryConfig(type="acr", uri="https://launchq01.azurecr.io/team/app"))
    assert gcr is not None
    assert gcr.image_uri("abc") == "us-east1-docker.pkg.dev/proj/repo/img:abc"
    assert acr is not None
    assert acr.image_uri("abc") == "launchq01.azurecr.io/team/app:abc"
    assert registry_from_config(LocalRegistryConfig(type="local")) is None


def test_artifact_registry_config_needs_every_part() -> None:
    with pytest.raises(InvalidInput, match="missing: project, region"):
        registry_from_config(GcrRegistryConfig(type="gcr", repository="repo", image_name="img"))


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/train", "ecr"),
        ("https://123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/train", "ecr"),
        ("us-central1-docker.pkg.dev/p/r/i", "gcr"),
        ("gcr.io/p/i", "gcr"),
        ("eu.gcr.io/p/i", "gcr"),
        ("https://MyRegistry.azurecr.io/repo", "acr"),
        ("127.0.0.1:5000/team/train", None),
        ("ghcr.io/org/img", None),
        ("docker.io/library/python", None),
        ("not a uri at all", None),
    ],
)
def test_registry_kind_is_told_by_the_host_alone(uri: str, kind: str | None) -> None:
    assert registry_kind(uri) == kind


def test_gcr_io_is_an_artifact_registry_repository() -> None:
    # gcr.io repositories are now hosted by Artifact Registry: the repository is the host
    parsed = parse_registry_uri("https://gcr.io/my-project/team/train", expect="gcr")
    assert (parsed.host, parsed.project, parsed.repository) == ("gcr.io", "my-project", "gcr.io")
    with pytest.raises(InvalidInput, match=r"gcr\.io/<project>/<image>"):
        parse_registry_uri("gcr.io/only-a-project")


def test_errors_name_the_field_the_uri_came_from() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_registry_uri("127.0.0.1:5000/team/train:v2", field="builder.destination")
    assert caught.value.field == "builder.destination"
    with pytest.raises(InvalidInput) as default:
        parse_registry_uri("127.0.0.1:5000/team/train:v2")
    assert default.value.field == "registry.uri"
