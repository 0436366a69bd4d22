"""The agent's Helm chart, rendered by Helm's own engine and held to the Kubernetes schemas.

helm-python-sdk embeds Helm v4's Go library (``helm.sh/helm/v4``, its template engine with
sprig, ``required``/``fail`` and ``values.schema.json`` validation): the first tests check
that it really is that engine before the others trust its output. No cluster exists here,
so every rendered object goes through ``kubernetes-validate --strict`` (Kubernetes 1.31)
and launchq's own checks (tests/unit/k8s_checks.py). W&B's values files and every key set are
tested in test_helm_chart_values.py, baseUrl (a control plane) in test_helm_chart_control_plane.py.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml
from helm_python.chart import Chart, lint
from helm_python.errors import HelmRenderError, HelmValuesError

from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.domain.launch_config import LaunchConfig, parse_launch_config
from launchq.local.settings import LocalSettings
from launchq.local.wiring import build_local, ensure_default_queue
from tests.unit.helm_render import CHART, RELEASE, by_kind, deployment, objects, render, values_file
from tests.unit.k8s_checks import all_problems, containers, pod_spec, restricted_problems

WANDB_VALUES = CHART / "ci" / "wandb-docs-values.yaml"  # W&B's docs' values.yaml, verbatim
MAXIMAL_VALUES = CHART / "ci" / "maximal-values.yaml"
WANDB_CHART_KEYS = CHART / "ci" / "wandb-chart-keys-values.yaml"  # W&B's current chart's keys
CONTROL_PLANE_VALUES = CHART / "ci" / "control-plane-values.yaml"  # baseUrl + apiKey

AGENT_RULES = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]},
    # create: a stop is recorded as an Event (KubernetesTarget._record_stop)
    {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch", "create"]},
    # patch: a run's secret gets its owner reference once the run's object exists (._own)
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "get", "patch", "delete"]},
]


@pytest.fixture(scope="module")
def chart() -> Iterator[Chart]:
    with Chart.load(CHART) as loaded:
        yield loaded


# --------------------------------------------------------------------------- the engine


def test_the_renderer_is_helm_v4s_own_engine(tmp_path: Path) -> None:
    # GIVEN the embedded library and a chart using Helm-only functions
    library = (Path(helm_python.__file__).parent / "lib").glob("libhelm_c.so*")
    build_info = next(p for p in library if p.is_file()).read_bytes()
    assert re.search(rb"dep\thelm\.sh/helm/v4\tv4\.\d+\.\d+\t", build_info)
    assert re.search(rb"dep\tgithub\.com/Masterminds/sprig/v3\t", build_info)
    (tmp_path / "templates").mkdir()
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 1.0.0\n")
    (tmp_path / "values.yaml").write_text("who: world\n")
    (tmp_path / "templates" / "t.yaml").write_text(
        'a: {{ required "who is required" .Values.who | upper | quote }}\n'
        "b: {{ list 3 1 3 | uniq | toJson }}\n"
        'c: {{ semverCompare ">=1.27.0-0" .Capabilities.KubeVersion.Version }}\n'
        'd: {{ include "x" . | b64enc }}\n'
        '{{- define "x" }}{{ .Release.Name }}/{{ .Release.Namespace }}{{ end }}\n'
        '{{- if eq .Values.who "nobody" }}{{ fail "who: nobody is not allowed" }}{{ end }}\n'
    )
    with Chart.load(tmp_path) as probe:
        # WHEN it renders
        text = probe.render(name="r", namespace="n")["probe/templates/t.yaml"]
        # THEN sprig, include, .Capabilities and .Release behave as Helm's
        assert yaml.safe_load(text) == {
            "a": "WORLD",
            "b": [3, 1],
            "c": True,
            "d": base64.b64encode(b"r/n").decode(),
        }
        # AND required / fail stop the render with the chart's own message
        with pytest.raises(HelmRenderError, match="who is required"):
            probe.render({"who": None}, name="r")
        with pytest.raises(HelmRenderError, match="who: nobody is not allowed"):
            probe.render({"who": "nobody"}, name="r")


# --------------------------------------------------------------------------- default values


def test_default_values_render_valid_least_privilege_objects(chart: Chart) -> None:
    # WHEN the chart renders with its own defaults into namespace "launchq"
    objs = objects(render(chart))
    # THEN every object passes the schemas and launchq's checks
    assert all_problems(objs) == []
    assert sorted(obj["kind"] for obj in objs) == [
        "ConfigMap",
        "Deployment",
        "PersistentVolumeClaim",
        "Role",
        "RoleBinding",
        "ServiceAccount",
    ]
    assert {obj["metadata"]["namespace"] for obj in objs} == {"launchq"}
    (role,) = by_kind(objs, "Role")
    assert role["rules"] == AGENT_RULES
    # AND no Secret exists when no secret value is set
    assert by_kind(objs, "Secret") == []


def test_the_agent_is_one_restricted_replica_on_its_own_volume(chart: Chart) -> None:
    deploy = deployment(objects(render(chart)))
    spec, pod = deploy["spec"], pod_spec(deploy)
    assert pod is not None
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert restricted_problems(deploy) == []
    (agent,) = containers(deploy)
    assert agent["command"] == ["launchq"]
    assert agent["args"] == [
        "agent",
        "--config",
        "/etc/launchq/launch-config.yaml",
        "--data-dir",
        "/var/lib/launchq",
    ]
    mounts = {m["mountPath"]: m["name"] for m in agent["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/var/lib/launchq"]]["persistentVolumeClaim"] == {"claimName": f"{RELEASE}-data"}
    assert volumes[mounts["/tmp"]]["emptyDir"] == {}
    assert volumes[mounts["/etc/launchq/launch-config.yaml"]]["configMap"] == {"name": f"{RELEASE}-config"}
    assert agent["resources"]["limits"] == {"cpu": "1000m", "memory": "1Gi"}
    assert pod["serviceAccountName"] == RELEASE


def test_the_default_launch_config_is_one_launchq_accepts(chart: Chart) -> None:
    (configmap,) = by_kind(objects(render(chart)), "ConfigMap")
    config = parse_launch_config(configmap["data"]["launch-config.yaml"], "chart default")
    assert config.queues == ["default"]
    assert config.max_jobs == 1


def test_helm_lint_is_clean(tmp_path: Path) -> None:
    files = (WANDB_VALUES, MAXIMAL_VALUES, WANDB_CHART_KEYS, CONTROL_PLANE_VALUES)
    for values in (None, *(values_file(f) for f in files)):
        report = lint(CHART, values, strict=True, kube_version="v1.31.0", namespace="launchq")
        assert report["errors"] == []
        assert [m for m in report["messages"] if m["severity"] >= 2] == []


# --------------------------------------------------------------------------- bad values


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"agent": {"imagePullPolicy": "Sometimes"}}, "/agent/imagePullPolicy"),
        ({"agent": {"image": "has space:1"}}, "/agent/image"),
        ({"additionalTargetNamespaces": ["Team_A"]}, "/additionalTargetNamespaces/0"),
        ({"namespace": "x" * 64}, "/namespace"),
        ({"customResources": [{"apiGroup": "kubeflow.org"}]}, "/customResources/0"),
        ({"agnet": {"image": "x:1"}}, "agnet"),
        ({"serviceAccount": {"annotations": {"a": ["list"]}}}, "/serviceAccount/annotations/a"),
        ({"persistence": {"size": "lots"}}, "/persistence/size"),
        ({"agent": {"startTimeout": 0}}, "/agent/startTimeout"),
        ({"additionalEnvVars": [{"name": "1X", "value": "v"}]}, "/additionalEnvVars"),
        ({"customCABundle": {"configMap": {"name": "Bad Name"}}}, "/customCABundle/configMap/name"),
    ],
)
def test_bad_values_are_refused_naming_the_key(chart: Chart, values: dict[str, Any], named: str) -> None:
    with pytest.raises(HelmValuesError) as refused:
        render(chart, values)
    assert named in str(refused.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"additionalEnvVars": {"HOME": "/root"}}, "additionalEnvVars: HOME is already set by the chart"),
        (
            {"additionalEnvVars": [{"name": "A", "value": "1"}], "additionalSecretEnvVars": {"A": "s"}},
            "additionalSecretEnvVars: A is already set by additionalEnvVars",
        ),
    ],
)
def test_an_environment_variable_set_twice_is_refused(
    chart: Chart, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(HelmRenderError, match=message):
        render(chart, values)


# --------------------------------------------------------------------------- the real agent


def test_the_deployments_command_line_runs_launchqs_agent(chart: Chart, tmp_path: Path) -> None:
    # GIVEN the rendered ConfigMap and container args, with the pod's paths moved under tmp
    objs = objects(render(chart))
    (configmap,) = by_kind(objs, "ConfigMap")
    config_file = tmp_path / "etc" / "launch-config.yaml"
    config_file.parent.mkdir()
    config_file.write_text(configmap["data"]["launch-config.yaml"])
    data_dir = tmp_path / "data"
    # AND the queue its launch-config names exists in the agent's store (the agent has its own)
    ensure_default_queue(
        build_local(LocalSettings(data_dir=data_dir), InProcessDoorbell(), LaunchConfig()), "default"
    )
    (agent,) = containers(deployment(objs))
    paths = {"/etc/launchq/launch-config.yaml": str(config_file), "/var/lib/launchq": str(data_dir)}
    argv = [paths.get(arg, arg) for arg in agent["args"]]
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    launchq = str(Path(sys.executable).with_name("launchq"))
    # WHEN the container's command runs
    proc = subprocess.Popen([launchq, *argv], env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = ""
        deadline = time.monotonic() + 60
        while "launchq agent watching" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line, f"the agent exited with {proc.wait()}"
        # THEN it works on the launch-config's queue, and a SIGTERM (pod stop) ends it cleanly
        assert "launchq agent watching default" in line
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
