"""The Kaniko build Job as data: its name, arguments, credentials per registry, and schemas.

Every Job built here is checked with ``kubernetes-validate --strict`` (Kubernetes 1.31, as
the API stand-in does), and so is each Secret launchq writes for it.
"""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate
import pytest

from launchq.adapters.builders.kaniko import KanikoBuilder
from launchq.adapters.builders.kaniko_context import context_store
from launchq.adapters.builders.kaniko_job import (
    CAPABILITIES,
    KanikoJob,
    docker_config_secret,
    kaniko_job,
    kaniko_job_name,
)
from launchq.adapters.registries.fake import FakeRegistry
from launchq.errors import InvalidInput
from launchq.ports import BuildPlan

RFC_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
PLAN = BuildPlan(
    image_uri="registry.test/team/train:5d41402abc4b2a76b9719d91",
    tag="5d41402abc4b2a76b9719d91",
    context_dir="/tmp/ctx",
    dockerfile="Dockerfile",
)


def job_for(registry_kind: str, host: str = "registry.test", **fields: Any) -> KanikoJob:
    values: dict[str, Any] = {
        "name": "launchq-image-build-0123456789abcdef0123",
        "namespace": "builds",
        "run_id": "3f2a9c0e1b7d4a55",
        "image": "gcr.io/kaniko-project/executor:v1.23.2",
        "context_url": "s3://bucket/contexts/launchq-image-build-0123456789abcdef0123.tar.gz",
        "dockerfile": "Dockerfile",
        "destination": f"{host}/team/train:5d41402abc4b2a76b9719d91",
        "platform": "linux/amd64",
        "registry_kind": registry_kind,
        "registry_host": host,
    }
    return KanikoJob(**(values | fields))


def valid(body: dict[str, Any]) -> dict[str, Any]:
    kubernetes_validate.validate(body, "1.31", strict=True)
    return body


def container(body: dict[str, Any]) -> dict[str, Any]:
    containers = body["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


# -- names ----------------------------------------------------------------------------------
def test_the_name_is_stable_for_a_run_and_a_plan_and_differs_otherwise() -> None:
    name = kaniko_job_name("launchq-image-build", "run-1", PLAN)
    assert name == kaniko_job_name("launchq-image-build", "run-1", PLAN)
    assert name != kaniko_job_name("launchq-image-build", "run-2", PLAN)
    assert name != kaniko_job_name("launchq-image-build", "run-1", PLAN.model_copy(update={"tag": "other"}))


@pytest.mark.parametrize("prefix", ["launchq-image-build", "Team_Builds.GPU", "x" * 80, "-edge-"])
def test_the_name_is_an_rfc_1123_label_of_at_most_63_characters(prefix: str) -> None:
    name = kaniko_job_name(prefix, "run-1", PLAN)
    assert RFC_1123_LABEL.match(name), name
    assert name.startswith(prefix.lower().replace("_", "-").replace(".", "-").strip("-")[:20])


def test_a_prefix_with_nothing_usable_is_refused_naming_the_key() -> None:
    with pytest.raises(InvalidInput) as refused:
        kaniko_job_name("__", "run-1", PLAN)
    assert refused.value.field == "builder.build-job-name"


# -- the Job --------------------------------------------------------------------------------
def test_the_job_passes_the_schemas_and_carries_its_build() -> None:
    body = valid(kaniko_job(job_for("oci", "127.0.0.1:5000", insecure=True)))
    spec = body["spec"]
    assert (spec["backoffLimit"], spec["template"]["spec"]["restartPolicy"]) == (0, "Never")
    assert body["metadata"]["labels"]["launchq.io/run-id"] == "3f2a9c0e1b7d4a55"
    assert spec["template"]["metadata"]["labels"]["launchq.io/build"] == body["metadata"]["name"]
    assert spec["template"]["spec"]["automountServiceAccountToken"] is False
    kaniko = container(body)
    assert kaniko["args"] == [
        "--context=s3://bucket/contexts/launchq-image-build-0123456789abcdef0123.tar.gz",
        "--dockerfile=Dockerfile",
        "--destination=127.0.0.1:5000/team/train:5d41402abc4b2a76b9719d91",
        "--cache=true",
        "--snapshot-mode=redo",
        "--custom-platform=linux/amd64",
        "--insecure=true",
    ]
    assert kaniko["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": CAPABILITIES}
    assert kaniko["securityContext"]["allowPrivilegeEscalation"] is False


def test_kaniko_config_is_the_skeleton_and_its_args_replace_launchqs_by_flag() -> None:
    skeleton: dict[str, Any] = {
        "metadata": {"labels": {"team": "ml"}},
        "spec": {
            "activeDeadlineSeconds": 600,
            "template": {
                "spec": {
                    "nodeSelector": {"pool": "builds"},
                    "containers": [
                        {
                            "args": ["--cache=false", "--verbosity=debug"],
                            "resources": {"limits": {"cpu": "2", "memory": "4Gi"}},
                            "securityContext": {
                                "capabilities": {"drop": ["ALL"], "add": [*CAPABILITIES, "SETFCAP"]}
                            },
                        }
                    ],
                }
            },
        },
    }
    body = valid(kaniko_job(job_for("oci", skeleton=skeleton)))
    assert body["metadata"]["labels"]["team"] == "ml"
    assert body["spec"]["activeDeadlineSeconds"] == 600
    assert body["spec"]["template"]["spec"]["nodeSelector"] == {"pool": "builds"}
    kaniko = container(body)
    assert "--cache=false" in kaniko["args"]
    assert "--cache=true" not in kaniko["args"]
    assert kaniko["args"][-1] == "--verbosity=debug"
    assert "SETFCAP" in kaniko["securityContext"]["capabilities"]["add"]
    assert kaniko["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert skeleton["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "--cache=false",
        "--verbosity=debug",
    ]


@pytest.mark.parametrize(
    ("skeleton", "field"),
    [
        ({"spec": {"template": {"spec": {"containers": [{}, {}]}}}}, "containers"),
        ({"spec": {"template": {"spec": {"containers": [{"args": ["cache"]}]}}}}, "builder.kaniko-config"),
    ],
)
def test_a_kaniko_config_it_cannot_use_is_refused_naming_the_key(
    skeleton: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        kaniko_job(job_for("oci", skeleton=skeleton))
    assert refused.value.field is not None
    assert field in refused.value.field


def test_gcr_credentials_are_a_service_account_key_kaniko_finds_by_its_variable() -> None:
    job = job_for("gcr", "us-docker.pkg.dev", secret_name="gcp-key", secret_key="key.json")
    body = valid(kaniko_job(job))
    kaniko = container(body)
    assert {"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/kaniko/.config/gcloud/credentials.json"} in (
        kaniko["env"]
    )
    volumes = {v["name"]: v for v in body["spec"]["template"]["spec"]["volumes"]}
    assert volumes["registry-credentials"]["secret"]["items"] == [
        {"key": "key.json", "path": "credentials.json"}
    ]
    assert job.docker_config() == {"credHelpers": {"us-docker.pkg.dev": "gcr"}}


def test_an_acr_or_other_registry_secret_is_the_docker_config_itself() -> None:
    job = job_for("acr", "team.azurecr.io", secret_name="acr-docker", secret_key=".dockerconfigjson")
    body = valid(kaniko_job(job))
    mounts = {m["name"]: m["mountPath"] for m in container(body)["volumeMounts"]}
    assert mounts == {"registry-credentials": "/kaniko/.docker"}
    assert job.docker_config() is None  # nothing of launchq's would be mounted over the user's


def test_acr_without_a_secret_uses_workload_identity_through_the_acr_helper() -> None:
    job = job_for("acr", "team.azurecr.io")
    owner = {"metadata": {"uid": "0c9a5f3e-1111-2222-3333-444455556666"}}
    secret = docker_config_secret(job, owner)
    assert secret is not None
    valid(secret)
    assert secret["stringData"]["config.json"] == '{"credHelpers": {"team.azurecr.io": "acr-env"}}'
    assert secret["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]
    valid(kaniko_job(job))


def test_an_open_registry_gets_no_credentials_at_all() -> None:
    job = job_for("oci")
    body = valid(kaniko_job(job))
    assert body["spec"]["template"]["spec"]["volumes"] == []
    assert (container(body)["env"], docker_config_secret(job, {})) == ([], None)


# -- the context store ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://bucket", "bucket", ""),
        ("s3://bucket/", "bucket", ""),
        ("s3://my.bucket/build/contexts/", "my.bucket", "build/contexts/"),
    ],
)
def test_an_s3_store_keeps_each_build_under_its_prefix(url: str, bucket: str, prefix: str) -> None:
    store = context_store(url)
    assert (store.bucket, store.prefix) == (bucket, prefix)
    assert store.url("b-1") == f"s3://{bucket}/{prefix}b-1.tar.gz"
    assert store.key_of(store.url("b-1")) == f"{prefix}b-1.tar.gz"
    assert store.key_of("s3://another/b-1.tar.gz") is None


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"build_job_name": "__"}, "builder.build-job-name"),
        ({"secret_name": "aws-secret"}, "builder.secret-name"),
    ],
)
def test_a_builder_with_keys_it_cannot_use_is_refused_when_made(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        KanikoBuilder(FakeRegistry(), "s3://bucket/contexts", **options)
    assert refused.value.field == field
