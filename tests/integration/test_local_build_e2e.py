"""A workstation set up like W&B's agent: ``launchq serve -c launch-config.yaml`` with a
registry, the buildah builder and an AWS environment. Code pushed with the CLI is built,
pushed to a real local registry, and submitted to SageMaker (moto server)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import httpx

from tests.integration.conftest import buildah_sagemaker_configs
from tests.servers import launchq_serve

REPO = Path(__file__).resolve().parents[2]
LAUNCHQ = str(Path(sys.executable).parent / "launchq")


def _cli(url: str, *args: str) -> str:
    env = {**os.environ, "LAUNCHQ_URL": url}
    done = subprocess.run([LAUNCHQ, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout.strip()


def _wait(api: httpx.Client, run_id: str, states: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = api.get(f"/runs/{run_id}").json()
        if run["state"] in states:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run never reached {states}: {run}")


def test_code_push_build_and_submit_from_a_workstation(
    tmp_path: Path, aws_env: dict[str, str], oci_registry: str, python_base_image: str, buildah_storage: Path
) -> None:
    config, queue_config = buildah_sagemaker_configs(
        tmp_path, f"{oci_registry}/team/examples", python_base_image
    )
    with launchq_serve(tmp_path / "data", "--config", str(config)) as url, httpx.Client(base_url=url) as api:
        _cli(url, "queue", "create", "sm", "--resource", "sagemaker", "--config", str(queue_config))
        code = _cli(url, "code", "push", "examples")
        assert code.startswith("code://")

        run_id = _cli(url, "launch", "-q", "sm", "-u", code, "-E", "python train.py")
        run = _wait(api, run_id, {"starting", "running", "finished", "dead_letter", "failed"})

        assert run["state"] != "dead_letter", run["reason"]
        job = boto3.client("sagemaker").describe_training_job(TrainingJobName=run_id_job(run))
        image = job["AlgorithmSpecification"]["TrainingImage"]
        assert image.startswith(f"{oci_registry}/team/examples:")
        build_log = api.get(f"/runs/{run_id}/logs", params={"source": "build"}).json()["text"]
        assert "Dockerfile.launchq" in build_log or "STEP" in build_log
        assert [e["to_state"] for e in run["events"]][:4] == ["queued", "claimed", "building", "starting"]


def run_id_job(run: dict[str, Any]) -> str:
    jobs = boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]
    names = [j["TrainingJobName"] for j in jobs if j["TrainingJobName"].endswith(run["id"])]
    assert len(names) == 1, jobs
    return str(names[0])
