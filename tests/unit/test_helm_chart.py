"""The agent's Helm chart, rendered by Helm's own engine and held to the Kubernetes schemas.

helm-python-sdk embeds Helm v4's Go library (``helm.sh/helm/v4``, its template engine with
sprig, ``required``/``fail`` and ``values.schema.json`` validation): the first tests check
that it really is that engine before the others trust its output. No cluster exists here,
so every rendered object goes through ``kubernetes-validate --strict`` (Kubernetes 1.31)
and launchq's own checks (tests/unit/k8s_checks.py).
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
from tests.unit.k8s_checks import all_problems, containers, documents, pod_spec, restricted_problems

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "infra" / "helm" / "launchq-agent"
WANDB_VALUES = CHART / "ci" / "wandb-docs-values.yaml"  # W&B's docs' values.yaml, verbatim
MAXIMAL_VALUES = CHART / "ci" / "maximal-values.yaml"
WANDB_CHART_KEYS = CHART / "ci" / "wandb-chart-keys-values.yaml"  # W&B's current chart's keys
RELEASE = "launchq-agent"

AGENT_RULES = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]},
    # create: a stop is recorded as an Event (KubernetesTarget._record_stop)
    {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch", "create"]},
    # patch: a run's secret gets its owner reference once the run's object exists (._own)
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "get", "patch", "delete"]},
]
CR_VERBS = ["create", "get", "list", "watch", "delete"]


@pytest.fixture(scope="module")
def chart() -> Iterator[Chart]:
    with Chart.load(CHART) as loaded:
        yield loaded


def values_file(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def render(chart: Chart, values: dict[str, Any] | None = None, namespace: str = "launchq") -> dict[str, str]:
    """Template file name -> rendered text, as `helm install -n NAMESPACE` would produce."""
    out = chart.render(values, name=RELEASE, namespace=namespace, is_install=True)
    return {Path(path).name: text for path, text in out.items()}


def objects(rendered: dict[str, str]) -> list[dict[str, Any]]:
    return [obj for name, text in rendered.items() if name.endswith(".yaml") for obj in documents(text)]


def by_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objs if obj["kind"] == kind]


def deployment(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = by_kind(objs, "Deployment")
    return found


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
    for values in (None, *(values_file(f) for f in (WANDB_VALUES, MAXIMAL_VALUES, WANDB_CHART_KEYS))):
        report = lint(CHART, values, strict=True, kube_version="v1.31.0", namespace="launchq")
        assert report["errors"] == []
        assert [m for m in report["messages"] if m["severity"] >= 2] == []


# --------------------------------------------------------------------------- W&B's values.yaml


def test_wandb_docs_values_install_unchanged(chart: Chart) -> None:
    # GIVEN the values.yaml of W&B's Kubernetes tutorial, verbatim
    values = values_file(WANDB_VALUES)
    # WHEN it renders (helm install -n wandb -f values.yaml)
    rendered = render(chart, values, namespace="wandb")
    objs = objects(rendered)
    # THEN every object is valid
    assert all_problems(objs) == []
    assert restricted_problems(deployment(objs)) == []
    # AND the agent may launch into its namespace and each additional one, with its own Role
    roles = {obj["metadata"]["namespace"]: obj for obj in by_kind(objs, "Role")}
    assert sorted(roles) == ["default", "wandb"]
    assert all(role["rules"] == AGENT_RULES for role in roles.values())
    for binding in by_kind(objs, "RoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": RELEASE, "namespace": "wandb"}]
    # AND launchConfig is the agent's launch-config.yaml, as written
    (configmap,) = by_kind(objs, "ConfigMap")
    assert configmap["data"]["launch-config.yaml"].strip() == values["launchConfig"].strip()
    # AND the empty workload-identity placeholders are not annotations
    (account,) = by_kind(objs, "ServiceAccount")
    assert "annotations" not in account["metadata"]
    # AND the empty apiKey, gitCreds and azureStorageAccessKey make no Secret
    assert by_kind(objs, "Secret") == []
    # AND what means nothing for launchq (baseUrl) or cannot work (W&B's image) is said, not ignored
    notes = rendered["NOTES.txt"]
    assert "baseUrl (https://api.wandb.ai) means nothing for launchq yet" in notes
    assert "wandb/launch-agent:latest, W&B's own agent image" in notes
    assert deployment(objs)["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Always"


# --------------------------------------------------------------------------- every key set


def test_maximal_values_render_valid_objects_with_secrets_only_in_the_secret(chart: Chart) -> None:
    # GIVEN every key set, secrets included
    values = values_file(MAXIMAL_VALUES)
    secrets = {
        "api-key": values["agent"]["apiKey"],
        "azure-storage-access-key": values["azureStorageAccessKey"],
        "git-credentials": values["gitCreds"],
        "env.HF_TOKEN": values["additionalSecretEnvVars"]["HF_TOKEN"],
    }
    # WHEN it renders
    rendered = render(chart, values, namespace="ignored")
    objs = objects(rendered)
    # THEN everything is valid, in the namespace the values name
    assert all_problems(objs) == []
    assert {o["metadata"]["namespace"] for o in objs if o["kind"] not in {"Role", "RoleBinding"}} == {
        "ml-agents"
    }
    # AND the secret values are in the Secret only, nowhere else (not even NOTES.txt)
    (secret,) = by_kind(objs, "Secret")
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == secrets
    elsewhere = "\n".join(text for name, text in rendered.items() if name != "secret.yaml")
    for value in secrets.values():
        assert value.strip() not in elsewhere
        assert "dummy" in value  # the check above looked for something real
    # AND the container reads them by reference
    (agent,) = containers(deployment(objs))
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in agent["env"] if "valueFrom" in e}
    assert refs == {
        "WANDB_API_KEY": {"name": RELEASE, "key": "api-key"},
        "AZURE_STORAGE_ACCESS_KEY": {"name": RELEASE, "key": "azure-storage-access-key"},
        "HF_TOKEN": {"name": RELEASE, "key": "env.HF_TOKEN"},
    }


def test_maximal_values_map_every_key(chart: Chart) -> None:
    values = values_file(MAXIMAL_VALUES)
    rendered = render(chart, values)
    objs = objects(rendered)
    deploy = deployment(objs)
    pod = pod_spec(deploy)
    assert pod is not None
    (agent,) = containers(deploy)
    # agent.labels join the selector's labels on the pod
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert labels["team"] == "ml-platform"
    assert deploy["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert (agent["image"], agent["imagePullPolicy"]) == (values["agent"]["image"], "Always")
    assert agent["resources"] == values["agent"]["resources"]
    # gitCreds: a read-only file that git's "store" helper reads
    env = {e["name"]: e.get("value") for e in agent["env"]}
    assert env["GIT_CONFIG_KEY_0"] == "credential.helper"
    assert env["GIT_CONFIG_VALUE_0"] == "store --file=/etc/launchq/git/credentials"
    (mount,) = [m for m in agent["volumeMounts"] if m["mountPath"] == "/etc/launchq/git"]
    assert mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["items"] == [{"key": "git-credentials", "path": "credentials"}]
    # serviceAccount.annotations: the set ones only
    (account,) = by_kind(objs, "ServiceAccount")
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/launchq-agent"
    }
    # launchConfig as a mapping is launch-config.yaml that launchq reads back
    (configmap,) = by_kind(objs, "ConfigMap")
    config = parse_launch_config(configmap["data"]["launch-config.yaml"], "values.yaml")
    assert config.queues == ["k8s-gpu", "k8s-cpu"]
    # scheduling, pod annotations (the restart checksums stay), start timeout, plain env vars
    assert pod["nodeSelector"] == values["agent"]["nodeSelector"]
    assert pod["tolerations"] == values["agent"]["tolerations"]
    assert pod["affinity"] == values["agent"]["affinity"]
    annotations = deploy["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "false"
    assert {"checksum/config", "checksum/secret"} <= annotations.keys()
    assert env["LAUNCHQ_START_TIMEOUT_SECONDS"] == "1800"
    assert env["HTTPS_PROXY"] == values["additionalEnvVars"]["HTTPS_PROXY"]
    # customCABundle: the ConfigMap's key mounted as the bundle every client of the agent reads
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE", "GIT_SSL_CAINFO"):
        assert env[name] == "/etc/launchq/ca/ca.crt"
    (ca_mount,) = [m for m in agent["volumeMounts"] if m["mountPath"] == "/etc/launchq/ca"]
    ca_volume = next(v for v in pod["volumes"] if v["name"] == ca_mount["name"])
    assert ca_volume["configMap"] == {
        "name": "corporate-ca",
        "items": [{"key": "ca-bundle.pem", "path": "ca.crt"}],
    }
    # persistence
    (claim,) = by_kind(objs, "PersistentVolumeClaim")
    assert claim["spec"]["storageClassName"] == "gp3"
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    # every meaningless key is warned about
    notes = rendered["NOTES.txt"]
    for warned in (
        "baseUrl (https://launchq.example.com)",
        "agent.apiKey is stored",
        "volcano: true installs nothing",
    ):
        assert warned in notes
    ignored = ["agent.minAvailable", "agent.useExternalWandbSecret", "sshAuthSecrets", "kanikoPvcName"]
    assert f"were ignored: {', '.join(ignored)}, kanikoDockerConfigSecret." in notes


def test_wandb_chart_keys_in_wandbs_shapes_are_accepted_and_mapped(chart: Chart) -> None:
    # GIVEN values in the shapes of W&B's current chart (list-form env vars, minAvailable, ...)
    values = values_file(WANDB_CHART_KEYS)
    rendered = render(chart, values, namespace="wandb")
    objs = objects(rendered)
    # THEN they render valid objects
    assert all_problems(objs) == []
    (agent,) = containers(deployment(objs))
    env = {e["name"]: e for e in agent["env"]}
    # AND list-form variables become plain env and secretKeyRef env respectively
    assert env["MY_ENV_VAR"] == {"name": "MY_ENV_VAR", "value": "my-value"}
    assert env["MY_SECRET_ENV_VAR"]["valueFrom"]["secretKeyRef"] == {
        "name": RELEASE,
        "key": "env.MY_SECRET_ENV_VAR",
    }
    (secret,) = by_kind(objs, "Secret")
    assert base64.b64decode(secret["data"]["env.MY_SECRET_ENV_VAR"]).decode() == "dummy-secret-value-24681357"
    assert "dummy-secret-value" not in rendered["deployment.yaml"]
    # AND the launch-config with W&B's own keys (max_schedulers, verbosity) is one launchq reads
    (configmap,) = by_kind(objs, "ConfigMap")
    assert parse_launch_config(configmap["data"]["launch-config.yaml"], "values.yaml").queues == ["k8s"]
    # AND only what is set and meaningless is named as ignored
    assert "were ignored: agent.minAvailable. See" in rendered["NOTES.txt"]


def test_roles_hold_exactly_the_agents_verbs_plus_the_configured_custom_resources(chart: Chart) -> None:
    objs = objects(render(chart, values_file(MAXIMAL_VALUES)))
    roles = {obj["metadata"]["namespace"]: obj["rules"] for obj in by_kind(objs, "Role")}
    # the agent's namespace first, a namespace listed twice only once
    assert list(roles) == ["ml-agents", "training", "research"]
    expected = [
        *AGENT_RULES,
        {"apiGroups": ["kubeflow.org"], "resources": ["pytorchjobs"], "verbs": CR_VERBS},
        {"apiGroups": ["batch.volcano.sh"], "resources": ["jobs"], "verbs": CR_VERBS},
    ]
    assert all(rules == expected for rules in roles.values())
    assert by_kind(objs, "ClusterRole") == []
    assert by_kind(objs, "ClusterRoleBinding") == []
    bindings = {obj["metadata"]["namespace"]: obj for obj in by_kind(objs, "RoleBinding")}
    assert list(bindings) == list(roles)
    for binding in bindings.values():
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": RELEASE,
        }


def test_a_changed_launch_config_restarts_the_agent(chart: Chart) -> None:
    def checksum(values: dict[str, Any]) -> str:
        annotations = deployment(objects(render(chart, values)))["spec"]["template"]["metadata"][
            "annotations"
        ]
        return str(annotations["checksum/config"])

    assert checksum({"launchConfig": "queues: [a]\n"}) != checksum({"launchConfig": "queues: [b]\n"})


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
