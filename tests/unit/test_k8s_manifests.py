"""Plain manifests for users without Helm (infra/k8s/) and the agent image they run.

infra/k8s/agent/ is the chart rendered with its defaults by infra/k8s/render.py, so the first
test fails whenever a checked-in file drifts from a fresh render. The Kaniko Job template is
written by hand and held to the same schemas and checks as everything else launchq ships.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.unit.k8s_checks import all_problems, containers, documents, pod_spec, restricted_problems

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
KANIKO_JOB = K8S / "kaniko-job.yaml"
DOCKERFILE = ROOT / "infra" / "docker" / "agent.Dockerfile"


def load_render_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("k8s_render", K8S / "render.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def render_script() -> ModuleType:
    return load_render_script()


def plain_objects() -> list[dict[str, Any]]:
    return [obj for path in sorted((K8S / "agent").glob("*.yaml")) for obj in documents(path.read_text())]


def kaniko_objects() -> list[dict[str, Any]]:
    return documents(KANIKO_JOB.read_text())


def kaniko_job() -> dict[str, Any]:
    (job,) = [obj for obj in kaniko_objects() if obj["kind"] == "Job"]
    return job


# --------------------------------------------------------------------------- the agent


def test_checked_in_agent_manifests_equal_a_fresh_render_of_the_chart(render_script: ModuleType) -> None:
    files = render_script.render()
    assert sorted(files) == [
        "configmap.yaml",
        "deployment.yaml",
        "pvc.yaml",
        "rbac.yaml",
        "serviceaccount.yaml",
    ]
    assert render_script.stale(files) == [], "run: .venv/bin/python infra/k8s/render.py"
    assert render_script.main(["--check"]) == 0


def test_a_drifted_or_leftover_file_is_reported_stale(render_script: ModuleType, tmp_path: Path) -> None:
    # GIVEN a fresh render written out, then one file edited by hand and one left over
    files = render_script.render()
    render_script.write(files, tmp_path)
    assert render_script.stale(files, tmp_path) == []
    (tmp_path / "rbac.yaml").write_text(files["rbac.yaml"].replace('"delete"', '"deletecollection"'))
    (tmp_path / "old.yaml").write_text("kind: ConfigMap\n")
    # THEN both are named, and writing again repairs them
    assert render_script.stale(files, tmp_path) == ["old.yaml", "rbac.yaml"]
    render_script.write(files, tmp_path)
    assert render_script.stale(files, tmp_path) == []


def test_plain_agent_manifests_are_valid_and_restricted() -> None:
    objs = plain_objects()
    assert all_problems(objs) == []
    (deploy,) = [obj for obj in objs if obj["kind"] == "Deployment"]
    assert restricted_problems(deploy) == []
    assert {obj["metadata"]["namespace"] for obj in objs} == {"launchq"}
    assert {obj["kind"] for obj in objs} == {
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "PersistentVolumeClaim",
        "Deployment",
    }


# --------------------------------------------------------------------------- Kaniko


def test_kaniko_job_template_is_valid() -> None:
    assert [obj["kind"] for obj in kaniko_objects()] == ["ConfigMap", "Job"]
    assert all_problems(kaniko_objects()) == []


def test_kaniko_job_builds_from_the_context_store_to_the_registry_with_cache() -> None:
    job = kaniko_job()
    assert len(job["metadata"]["name"]) <= 63
    assert job["spec"]["backoffLimit"] == 0
    pod = pod_spec(job)
    assert pod is not None
    assert pod["restartPolicy"] == "Never"
    (kaniko,) = containers(job)
    # pinned: a version tag or a digest, never a moving tag
    assert re.fullmatch(
        r"gcr\.io/kaniko-project/executor(:v\d+\.\d+\.\d+|@sha256:[0-9a-f]{64})", kaniko["image"]
    )
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in kaniko["args"])
    assert re.fullmatch(
        r"(s3|gs)://[^/]+/.+\.tar\.gz|https://[^/]+\.blob\.core\.windows\.net/.+\.tar\.gz", flags["context"]
    )
    assert re.fullmatch(r"[^/]+/.+:[0-9a-f]{24}", flags["destination"])  # today's content tag
    assert flags["cache"] == "true"


def test_kaniko_job_reads_credentials_from_secret_name_and_secret_key() -> None:
    job = kaniko_job()
    pod = pod_spec(job)
    assert pod is not None
    (kaniko,) = containers(job)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in kaniko["volumeMounts"]}
    mount = mounts["/root/.aws"]
    secret = volumes[mount["name"]]["secret"]
    (item,) = secret["items"]
    assert mount["readOnly"] is True
    env = {e["name"]: e["value"] for e in kaniko["env"]}
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == f"{mount['mountPath']}/{item['path']}"
    assert secret["secretName"]
    assert item["key"]
    # ECR through the credential helper in Kaniko's image, for the destination's registry
    (configmap,) = [obj for obj in kaniko_objects() if obj["kind"] == "ConfigMap"]
    docker = volumes[mounts["/kaniko/.docker"]["name"]]["configMap"]
    assert docker == {"name": configmap["metadata"]["name"]}
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in kaniko["args"])
    registry = flags["destination"].split("/", 1)[0]
    assert json.loads(configmap["data"]["config.json"]) == {"credHelpers": {registry: "ecr-login"}}
    # root by necessity, but nothing beyond it
    context = kaniko["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False


# --------------------------------------------------------------------------- the agent image


def test_agent_image_installs_the_locked_server_dependencies_and_runs_as_the_charts_user() -> None:
    text = DOCKERFILE.read_text()
    assert "--require-hashes -r infra/requirements/server.txt" in text
    assert "--no-deps --no-build-isolation ." in text
    (user,) = re.findall(r"^USER (\S+)$", text, flags=re.MULTILINE)
    deploy = next(obj for obj in plain_objects() if obj["kind"] == "Deployment")
    pod = pod_spec(deploy)
    assert pod is not None
    context = pod["securityContext"]
    assert user == f"{context['runAsUser']}:{context['runAsGroup']}"
    (entry,) = re.findall(r"^ENTRYPOINT (.+)$", text, flags=re.MULTILINE)
    assert yaml.safe_load(entry) == containers(deploy)[0]["command"]
