"""The agent's Helm chart with `baseUrl`: the in-cluster agent pulls its runs from a launchq
control plane (`launchq agent --url`), its API key a bearer token read from the chart's Secret.

Rendered by Helm's own engine and held to the Kubernetes schemas, as in test_helm_chart.py.
Without baseUrl (or with W&B's own API in it) the chart renders as before: the checked-in
infra/k8s/agent/ manifests are that render, and tests/unit/test_k8s_manifests.py pins them.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helm_python.chart import Chart
from helm_python.errors import HelmRenderError, HelmValuesError

from launchq.domain.launch_config import parse_launch_config
from launchq.domain.states import TERMINAL
from tests.servers import stop_process
from tests.unit.helm_render import CHART, RELEASE, by_kind, deployment, objects, render, values_file
from tests.unit.k8s_checks import all_problems, containers, restricted_problems

CONTROL_PLANE_VALUES = CHART / "ci" / "control-plane-values.yaml"
API_URL = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"  # the AWS stack's ApiUrl
KEYED_URL = "https://launchq.example.com"  # ci/control-plane-values.yaml's
ENDED = {state.value for state in TERMINAL}
STORE_ARGS = ["agent", "--config", "/etc/launchq/launch-config.yaml", "--data-dir", "/var/lib/launchq"]


@pytest.fixture(scope="module")
def chart() -> Iterator[Chart]:
    with Chart.load(CHART) as loaded:
        yield loaded


def agent_container(rendered: dict[str, str]) -> dict[str, Any]:
    (agent,) = containers(deployment(objects(rendered)))
    return agent


def secret_refs(agent: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {e["name"]: e["valueFrom"]["secretKeyRef"] for e in agent["env"] if "valueFrom" in e}


def test_base_url_runs_the_agent_against_the_control_plane_with_the_key_from_the_secret(
    chart: Chart,
) -> None:
    # GIVEN baseUrl and agent.apiKey
    values = values_file(CONTROL_PLANE_VALUES)
    key = values["agent"]["apiKey"]
    assert "dummy" in key  # the checks below look for something real
    # WHEN the chart renders
    rendered = render(chart, values)
    objs = objects(rendered)
    # THEN every object is valid and the agent still restricted
    assert all_problems(objs) == []
    assert restricted_problems(deployment(objs)) == []
    # AND the agent pulls from baseUrl, with the launch-config and data dir wired as before
    agent = agent_container(rendered)
    assert agent["command"] == ["launchq"]
    assert agent["args"] == ["agent", "--url", KEYED_URL, *STORE_ARGS[1:]]
    volumes = {v["name"]: v for v in deployment(objs)["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"] == {"claimName": f"{RELEASE}-data"}  # host id, logs
    (configmap,) = by_kind(objs, "ConfigMap")
    config = parse_launch_config(configmap["data"]["launch-config.yaml"], "values.yaml")
    assert (config.queues, config.max_jobs) == (["gpu"], 2)
    # AND the key reaches it as LAUNCHQ_API_KEY from the Secret, never as a plain value
    assert secret_refs(agent) == {"LAUNCHQ_API_KEY": {"name": RELEASE, "key": "api-key"}}
    names = [e["name"] for e in agent["env"]]
    assert "WANDB_API_KEY" not in names
    assert "LAUNCHQ_URL" not in names  # --url says it once
    (secret,) = by_kind(objs, "Secret")
    assert base64.b64decode(secret["data"]["api-key"]).decode() == key
    assert all(key not in text for name, text in rendered.items() if name != "secret.yaml")
    # AND the notes say where the work comes from and how the agent authenticates
    notes = rendered["NOTES.txt"]
    assert f"pulling runs from the launchq control plane at baseUrl ({KEYED_URL})" in notes
    assert "sent as `Authorization: Bearer` (LAUNCHQ_API_KEY)" in notes
    assert "WARNING" not in notes


def test_base_url_without_a_key_signs_with_the_pods_aws_identity(chart: Chart) -> None:
    # GIVEN baseUrl and an IRSA role on the service account, no API key
    values = {
        "baseUrl": API_URL,
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/agent"}},
    }
    rendered = render(chart, values)
    objs = objects(rendered)
    assert all_problems(objs) == []
    # THEN no Secret and no key variable: the CLI's SigV4 signer uses the pod's identity
    assert by_kind(objs, "Secret") == []
    agent = agent_container(rendered)
    assert agent["args"][:3] == ["agent", "--url", API_URL]
    assert secret_refs(agent) == {}
    assert "signed with AWS SigV4" in rendered["NOTES.txt"]
    assert "WARNING" not in rendered["NOTES.txt"]


def test_a_bearer_key_for_an_api_gateway_url_is_warned_about(chart: Chart) -> None:
    # API Gateway's IAM auth refuses a request that carries a bearer token instead of SigV4
    notes = render(chart, {"baseUrl": API_URL, "agent": {"apiKey": "k"}})["NOTES.txt"]
    assert "WARNING: baseUrl is an API Gateway URL: the AWS stack's API takes SigV4" in notes


@pytest.mark.parametrize("base_url", [None, "", "https://api.wandb.ai", "https://acme.wandb.io/"])
def test_without_a_launchq_base_url_the_agent_keeps_its_own_store_as_before(
    chart: Chart, base_url: str | None
) -> None:
    # GIVEN no baseUrl, or W&B's own API (W&B's values files carry it), and an API key
    values = {"baseUrl": base_url, "agent": {"apiKey": "dummy-wandb-key-97531"}}
    rendered = render(chart, values)
    # THEN the Deployment is the one rendered without baseUrl: the store's command line, the key
    # as W&B's variable (unused), the PVC
    baseline = render(chart, {"agent": {"apiKey": "dummy-wandb-key-97531"}})
    assert rendered["deployment.yaml"] == baseline["deployment.yaml"]
    agent = agent_container(rendered)
    assert agent["args"] == STORE_ARGS
    assert secret_refs(agent) == {"WANDB_API_KEY": {"name": RELEASE, "key": "api-key"}}
    assert by_kind(objects(rendered), "PersistentVolumeClaim") != []
    # AND a W&B URL is named as ignored, not silently dropped
    notes = rendered["NOTES.txt"]
    assert ("it is W&B's own API, which serves no launchq queues" in notes) == bool(base_url)
    assert "does not use it without a launchq baseUrl" in notes


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:8080", "http://localhost:8080/", "https://launchq.internal:8443/api"]
)
def test_an_api_key_goes_over_https_or_to_a_loopback_host(chart: Chart, base_url: str) -> None:
    agent = agent_container(render(chart, {"baseUrl": base_url, "agent": {"apiKey": "k"}}))
    assert agent["args"][:3] == ["agent", "--url", base_url]
    assert "LAUNCHQ_API_KEY" in secret_refs(agent)


def test_plain_http_to_another_host_is_fine_without_a_key(chart: Chart) -> None:
    url = "http://launchq.launchq.svc.cluster.local:8080"
    assert agent_container(render(chart, {"baseUrl": url}))["args"][:3] == ["agent", "--url", url]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"baseUrl": "http://launchq.example.com", "agent": {"apiKey": "k"}},
            "baseUrl: agent.apiKey is sent only over https (plain http only to a loopback host), "
            "not to http://launchq.example.com",
        ),
        (
            {"baseUrl": "https://user:pass@launchq.example.com"},
            "baseUrl: credentials in the URL would be a plain value in the Deployment",
        ),
        (
            {"baseUrl": API_URL, "additionalEnvVars": {"LAUNCHQ_URL": "https://elsewhere.example.com"}},
            "additionalEnvVars: LAUNCHQ_URL is already set by the chart (baseUrl)",
        ),
        (
            {"additionalSecretEnvVars": {"LAUNCHQ_API_KEY": "k"}},
            "additionalSecretEnvVars: LAUNCHQ_API_KEY is already set by the chart (agent.apiKey)",
        ),
    ],
)
def test_a_base_url_the_agent_would_refuse_stops_the_install(
    chart: Chart, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(HelmRenderError) as refused:
        render(chart, values)
    assert message in str(refused.value)
    assert "user:pass" not in str(refused.value)  # a secret in the URL is not echoed


@pytest.mark.parametrize("base_url", ["launchq.example.com", "ftp://launchq.example.com", "https:// x"])
def test_a_base_url_that_is_not_an_http_url_is_refused_naming_the_key(chart: Chart, base_url: str) -> None:
    with pytest.raises(HelmValuesError) as refused:
        render(chart, {"baseUrl": base_url})
    assert "/baseUrl" in str(refused.value)


# --------------------------------------------------------------------------- the real agent


def container_env(agent: dict[str, Any], objs: list[dict[str, Any]], home: Path) -> dict[str, str]:
    """The container's environment as the kubelet builds it: plain values, and secretKeyRef
    values read from the rendered Secret; HOME moved under the test's directory."""
    secrets = {s["metadata"]["name"]: s["data"] for s in by_kind(objs, "Secret")}
    env: dict[str, str] = {}
    for var in agent["env"]:
        if "value" in var:
            env[var["name"]] = var["value"]
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = base64.b64decode(secrets[ref["name"]][ref["key"]]).decode()
    return {**env, "HOME": str(home)}


def test_the_rendered_command_line_pulls_a_run_from_a_real_control_plane(
    chart: Chart, server: str, tmp_path: Path
) -> None:
    # GIVEN a real `launchq serve` as the control plane, with an agents queue and a run on it
    with httpx.Client(base_url=server, timeout=30) as api:
        created = api.post("/queues", json={"name": "gpu", "resource": "local-process", "dispatch": "agents"})
        assert created.status_code == 201, created.text
        code = "print('hello from the cluster')"
        enqueued = api.post("/queues/gpu/runs", json={"entry_point": [sys.executable, "-c", code]})
        assert enqueued.status_code == 201, enqueued.text
        run_id = enqueued.json()["id"]
        # AND the chart rendered for it, with a key (plain http is allowed to a loopback host)
        values = {
            "baseUrl": server,
            "agent": {"apiKey": "dummy-key-2468"},
            "launchConfig": {"queues": ["gpu"]},
        }
        objs = objects(render(chart, values))
        (configmap,) = by_kind(objs, "ConfigMap")
        config_file = tmp_path / "launch-config.yaml"
        config_file.write_text(configmap["data"]["launch-config.yaml"])
        (agent,) = containers(deployment(objs))
        paths = {
            "/etc/launchq/launch-config.yaml": str(config_file),
            "/var/lib/launchq": str(tmp_path / "data"),
        }
        argv = [paths.get(arg, arg) for arg in agent["args"]]
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHQ_")}
        env = {**inherited, **container_env(agent, objs, tmp_path)}
        assert env["LAUNCHQ_API_KEY"] == "dummy-key-2468"
        launchq = str(Path(sys.executable).with_name("launchq"))
        # WHEN the container's command runs
        log = tmp_path / "agent.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([launchq, *argv], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            # THEN it takes the run from the control plane, runs it, and reports its end
            deadline = time.monotonic() + 90
            while (state := api.get(f"/runs/{run_id}").json()["state"]) not in ENDED:
                assert proc.poll() is None, f"the agent exited with {proc.returncode}:\n{log.read_text()}"
                assert time.monotonic() < deadline, f"run still {state}"
                time.sleep(0.2)
            assert state == "finished"
            shown = api.get(f"/runs/{run_id}").json()
            assert shown["exit_code"] == 0
            # AND its log reaches the control plane (shipped every ~2 s and at the end)
            deadline = time.monotonic() + 30
            while "hello from the cluster" not in api.get(f"/runs/{run_id}/logs").json()["text"]:
                assert time.monotonic() < deadline, "the job's log never reached the control plane"
                time.sleep(0.2)
            # AND a SIGTERM (pod stop) ends it cleanly
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            stop_process(proc, signal.SIGKILL)  # only if it is still there
    assert "dummy-key-2468" not in log.read_text()  # the key is never logged
