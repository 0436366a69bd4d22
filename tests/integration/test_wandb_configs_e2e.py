"""A W&B user's own configs against a real ``launchq serve -c``: the agent file in W&B's
newer shape (``max_jobs`` as a string, ``builder.destination`` instead of a registry block)
and a SageMaker queue config as W&B's docs write it (a ``null`` key, the user's own
``Environment.WANDB_PROJECT``). The code is built with buildah into a real local registry
and submitted to SageMaker (moto server)."""

from __future__ import annotations

from pathlib import Path

import boto3
import httpx

from tests.functional.helpers import TERMINAL, py, wait_state
from tests.integration.test_local_build_e2e import _cli
from tests.servers import launchq_serve


def test_wandb_shaped_agent_and_queue_configs_build_and_submit(
    tmp_path: Path, aws_env: dict[str, str], oci_registry: str, python_base_image: str, buildah_storage: Path
) -> None:
    # GIVEN W&B's agent config: max_jobs as a string, the image repository as builder.destination
    agent = tmp_path / "launch-config.yaml"
    agent.write_text(
        'max_jobs: "2"\n'
        "environment:\n  type: aws\n  region: us-east-1\n"
        f"builder:\n  type: buildah\n  destination: {oci_registry}/team/wandb-dest\n"
    )
    # AND a SageMaker queue config as W&B's docs show it, with a null key and the user's project
    queue_config = (
        "RoleArn: arn:aws:iam::123456789012:role/training\n"
        "ResourceConfig: {InstanceType: ml.m5.xlarge, InstanceCount: 1, VolumeSizeInGB: 10}\n"
        "OutputDataConfig: {S3OutputPath: 's3://bucket/out'}\n"
        "StoppingCondition: {MaxRuntimeInSeconds: 3600}\n"
        "VpcConfig: null\n"
        "Environment: {WANDB_PROJECT: team-project}\n"
        "AlgorithmSpecification: {TrainingImage: '${image_uri}', TrainingInputMode: File}\n"
        f"builder: {{base_image: '{python_base_image}'}}\n"
    )
    with launchq_serve(tmp_path / "data", "--config", str(agent)) as url, httpx.Client(base_url=url) as api:
        # WHEN the queue is created over HTTP with max_jobs written as a string, as W&B accepts it
        created = api.post(
            "/queues", json={"name": "sm", "resource": "sagemaker", "max_jobs": "5", "config": queue_config}
        )
        assert created.status_code == 201, created.text
        assert api.get("/queues/sm").json()["max_jobs"] == 5
        # AND code is pushed and launched on it
        code = _cli(url, "code", "push", "examples")
        run_id = _cli(url, "launch", "-q", "sm", "-u", code, "-E", "python train.py", "-p", "Vision")
        run = wait_state(api, run_id, {"starting", "running", "finished", "dead_letter", "failed"}, 120)

        # THEN the run was built and submitted
        assert run["state"] != "dead_letter", run["reason"]
        jobs = boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]
        name = next(job["TrainingJobName"] for job in jobs if job["TrainingJobName"].endswith(run_id))
        job = boto3.client("sagemaker").describe_training_job(TrainingJobName=name)
        # AND the image went to builder.destination
        assert job["AlgorithmSpecification"]["TrainingImage"].startswith(f"{oci_registry}/team/wandb-dest:")
        # AND the null key was dropped, not refused
        assert "VpcConfig" not in job
        # AND the run's events say the user's WANDB_PROJECT was used instead of launchq's
        reasons = " | ".join(event["reason"] for event in run["events"])
        assert "WANDB_PROJECT set by resource_args.sagemaker.Environment; launchq's value not used" in reasons


def test_project_name_is_lower_cased_for_the_macro_and_wandb_project(tmp_path: Path) -> None:
    # GIVEN a local-process queue whose config passes ${project_name} on, as a W&B queue may
    with launchq_serve(tmp_path / "data") as url, httpx.Client(base_url=url) as api:
        config = {"env": {"PROJECT_MACRO": "${project_name}"}}
        created = api.post("/queues", json={"name": "lp", "resource": "local-process", "config": config})
        assert created.status_code == 201, created.text
        # WHEN a run of project "Vision-Team" prints both
        show = "import os; print(os.environ['PROJECT_MACRO'], os.environ['WANDB_PROJECT'])"
        body = {"entry_point": py(show), "project": "Vision-Team"}
        run_id = api.post("/queues/lp/runs", json=body).json()["id"]
        run = wait_state(api, run_id, TERMINAL, 60)
        # THEN both are W&B's lower-cased project name
        assert run["state"] == "finished", run
        assert api.get(f"/runs/{run_id}/logs").json()["text"].split() == ["vision-team", "vision-team"]


def test_max_jobs_string_in_the_servers_launch_config_caps_its_dispatcher(tmp_path: Path) -> None:
    # GIVEN `launchq serve -c` with W&B's max_jobs written as a string, and a queue of 5 slots
    agent = tmp_path / "launch-config.yaml"
    agent.write_text('max_jobs: "1"\n')
    with launchq_serve(tmp_path / "data", "--config", str(agent)) as url, httpx.Client(base_url=url) as api:
        created = api.post("/queues", json={"name": "lp", "resource": "local-process", "max_jobs": "5"})
        assert created.status_code == 201, created.text
        # WHEN two runs are enqueued
        body = {"entry_point": py("import time; time.sleep(4)")}
        first, second = (api.post("/queues/lp/runs", json=body).json()["id"] for _ in range(2))
        wait_state(api, first, {"starting", "running"}, 30)
        # THEN the file's max_jobs holds the second back until the first is done
        assert api.get(f"/runs/{second}").json()["state"] == "queued"
        assert wait_state(api, first, TERMINAL, 60)["state"] == "finished"
        assert wait_state(api, second, TERMINAL, 60)["state"] == "finished"
