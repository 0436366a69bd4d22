"""``builder: {type: kaniko}`` in launch-config.yaml gives local mode (and the Helm agent) the Kaniko builder.

Making the builder calls nothing: the cluster and S3 are reached on the first build.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from launchq.adapters.builders.kaniko import KanikoBuilder
from launchq.domain.launch_config import parse_launch_config
from launchq.errors import InvalidInput
from launchq.local.build_wiring import builder_for, registry_for

# The seeds' Kaniko builder (W&B's docs), with an ECR registry and the AWS environment.
SEED = """
environment:
  type: aws
  region: us-east-1
registry:
  type: ecr
  uri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/train
builder:
  type: kaniko
  build-context-store: s3://my-bucket/build-contexts/
  build-job-name: wandb-image-build
  secret-name: aws-secret
  secret-key: credentials
"""


def kaniko_from(text: str, tmp_path: Path) -> KanikoBuilder:
    config = parse_launch_config(text, "launch-config.yaml")
    builder = builder_for(config, registry_for(config), tmp_path)
    assert isinstance(builder, KanikoBuilder)
    return builder


def test_the_seeds_kaniko_builder_is_wired_with_wandbs_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    builder = kaniko_from(SEED, tmp_path)
    assert (builder.store.bucket, builder.store.prefix) == ("my-bucket", "build-contexts/")
    assert (builder.build_job_name, builder.secret_name, builder.secret_key) == (
        "wandb-image-build",
        "aws-secret",
        "credentials",
    )
    assert builder.kaniko_image == "gcr.io/kaniko-project/executor:v1.23.2"
    assert (builder.region, builder.cluster.in_cluster) == ("us-east-1", False)


def test_in_a_pod_without_a_kubeconfig_the_builder_uses_the_pods_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    assert kaniko_from(SEED, tmp_path).cluster.in_cluster is True
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    assert kaniko_from(SEED, tmp_path).cluster.in_cluster is False


def test_gs_and_azure_context_stores_are_used_as_the_config_names_them(tmp_path: Path) -> None:
    # (issue 10: these were refused with "s3:// only" until their uploads were wired)
    for url, root in [
        ("gs://my-bucket/build-contexts/", "gs://my-bucket/"),
        (
            "https://acct01.blob.core.windows.net/contexts/build-contexts/",
            "https://acct01.blob.core.windows.net/contexts/",
        ),
    ]:
        builder = kaniko_from(SEED.replace("s3://my-bucket/build-contexts/", url), tmp_path)
        assert builder.store.url("b-1") == f"{root}build-contexts/b-1.tar.gz"
    text = SEED.replace("s3://my-bucket/build-contexts/", "https://acct01.blob.core.windows.net/Upper/")
    config = parse_launch_config(text, "launch-config.yaml")
    with pytest.raises(InvalidInput) as refused:
        builder_for(config, registry_for(config), tmp_path)
    assert refused.value.field == "builder.build-context-store"


def test_kaniko_without_a_registry_is_refused_naming_it(tmp_path: Path) -> None:
    config = parse_launch_config("builder:\n  type: kaniko\n  build-context-store: s3://b/c\n", "f.yaml")
    with pytest.raises(InvalidInput) as refused:
        builder_for(config, None, tmp_path)
    assert refused.value.field == "registry"


def test_codebuild_is_still_refused_in_local_mode(tmp_path: Path) -> None:
    text = SEED.replace("type: kaniko", "type: codebuild").split("  build-job-name")[0]
    config = parse_launch_config(text, "launch-config.yaml")
    with pytest.raises(InvalidInput) as refused:
        builder_for(config, registry_for(config), tmp_path)
    assert refused.value.field == "builder.type"
