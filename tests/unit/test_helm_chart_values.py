"""The agent's Helm chart with values files other than its defaults: W&B's docs' values.yaml
verbatim, values in the shapes of W&B's current chart, and every key set at once.

Split from test_helm_chart.py, which checks the engine and the defaults and holds the values
files' paths and the agent's Role rules shared here. Each render goes through
``kubernetes-validate --strict`` and launchq's own checks (tests/unit/k8s_checks.py); what
these tests pin is that every key W&B users may bring is either mapped, or named as ignored,
and that secret values land in the Secret only.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from helm_python.chart import Chart

from launchq.domain.launch_config import parse_launch_config
from tests.unit.helm_render import CHART, RELEASE, by_kind, deployment, objects, render, values_file
from tests.unit.k8s_checks import all_problems, containers, pod_spec, restricted_problems
from tests.unit.test_helm_chart import AGENT_RULES, MAXIMAL_VALUES, WANDB_CHART_KEYS, WANDB_VALUES

CR_VERBS = ["create", "get", "list", "watch", "delete"]


@pytest.fixture(scope="module")
def chart() -> Iterator[Chart]:
    with Chart.load(CHART) as loaded:
        yield loaded


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
    # AND the container reads them by reference (baseUrl names a launchq control plane: the
    # API key is its bearer token, LAUNCHQ_API_KEY)
    (agent,) = containers(deployment(objs))
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in agent["env"] if "valueFrom" in e}
    assert refs == {
        "LAUNCHQ_API_KEY": {"name": RELEASE, "key": "api-key"},
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
