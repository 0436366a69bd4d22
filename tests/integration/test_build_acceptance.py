"""Builds end to end: a git source launched onto a SageMaker queue (moto server) is built
with buildah, pushed to a real local registry under its content-hash tag, and submitted
with ``${image_uri}`` resolved to it; the same source again is submitted without a build."""

from __future__ import annotations

import subprocess
from pathlib import Path

import boto3
import pytest

from launchq.adapters.builders.buildah import BuildahBuilder
from launchq.adapters.code_stores.local import LocalCodeStore
from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.adapters.registries.oci import OciRegistry
from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.adapters.targets.sagemaker import SageMakerTarget
from launchq.bootstrap import Services, build_services
from launchq.domain.models import Run, RunSpec
from launchq.domain.states import RunState
from launchq.ports import BuildPlan, BuildResult
from launchq.service.context import Context
from launchq.service.queues import QueueCreate
from launchq.service.targets import TargetCatalog


class CountingBuildah(BuildahBuilder):
    """The real buildah builder, counting the builds it actually starts."""

    started: list[str]

    def start(self, run: Run, plan: BuildPlan) -> BuildResult:
        self.started.append(plan.tag)
        return super().start(run, plan)


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    repo.mkdir()
    (repo / "train.py").write_text("print('training')\n")
    (repo / "requirements.txt").write_text("numpy==2.0.0\n")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "first")
    return repo


@pytest.fixture
def world(
    tmp_path: Path, aws_env: dict[str, str], oci_registry: str, python_base_image: str, buildah_storage: Path
) -> tuple[Services, CountingBuildah]:
    registry = OciRegistry(f"{oci_registry}/team/train", insecure=True)
    builder = CountingBuildah(registry, work_dir=tmp_path / "builds", tls_verify=False)
    builder.started = []
    target = SageMakerTarget(account_id="123456789012")
    ctx = Context(
        store=SqliteRunStore(tmp_path / "launchq.db"),
        doorbell=InProcessDoorbell(),
        targets=TargetCatalog({target.resource: target}),
        builder=builder,
        trigger=ReconcilerOnlyTrigger(),
        registry=registry,
        code_store=LocalCodeStore(tmp_path / "code"),
        build_dir=tmp_path / "contexts",
    )
    services = build_services(ctx)
    config = {
        "RoleArn": "arn:aws:iam::123456789012:role/training",
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
        "AlgorithmSpecification": {"TrainingImage": "${image_uri}", "TrainingInputMode": "File"},
        "builder": {"base_image": python_base_image},
    }
    services.queues.create(QueueCreate(name="sm", resource="sagemaker", config=config, max_jobs=-1))
    return services, builder


def _launch(services: Services, repo: Path) -> Run:
    spec = RunSpec(
        uri=str(repo), git_version=_git(repo, "rev-parse", "HEAD"), entry_point=["python", "train.py"]
    )
    services.runs.enqueue("sm", spec)
    (launched,) = services.dispatcher.dispatch("sm")
    return launched


def _job_image(run: Run) -> str:
    job = boto3.client("sagemaker").describe_training_job(TrainingJobName=run.handle["training_job_name"])
    return str(job["AlgorithmSpecification"]["TrainingImage"])


def test_a_git_source_is_built_once_and_reused(
    world: tuple[Services, CountingBuildah], source: Path, oci_registry: str
) -> None:
    services, builder = world

    # WHEN the source is launched the first time
    first = _launch(services, source)

    # THEN it was built with buildah, pushed under a content-hash tag, and submitted with that image
    assert first.state == RunState.STARTING, services.runs.get(first.id).reason
    assert len(builder.started) == 1
    tag = builder.started[0]
    assert len(tag) >= 16
    image = f"{oci_registry}/team/train:{tag}"
    assert _job_image(first) == image
    assert services.ctx.registry is not None
    assert services.ctx.registry.exists(tag)
    reasons = [e.reason for e in services.runs.events(first.id)]
    assert f"building {image} with buildah" in reasons
    assert "pip install --no-cache-dir -r requirements.txt" in services.runs.logs(first.id, 0, "build")[1]

    # WHEN the same source is launched again
    again = _launch(services, source)

    # THEN the registry was asked, nothing was built, and the same image was submitted
    assert len(builder.started) == 1
    assert _job_image(again) == image
    assert f"image {image} is in the registry; no build" in [e.reason for e in services.runs.events(again.id)]

    # WHEN requirements.txt changes
    (source / "requirements.txt").write_text("numpy==2.1.0\n")
    _git(source, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "bump numpy")
    changed = _launch(services, source)

    # THEN a new tag is built
    assert len(builder.started) == 2
    assert builder.started[1] != tag
    assert _job_image(changed) == f"{oci_registry}/team/train:{builder.started[1]}"


def test_a_failing_build_dead_letters_with_the_log_tail(
    world: tuple[Services, CountingBuildah], source: Path
) -> None:
    services, _ = world
    (source / "Dockerfile").write_text("FROM scratch\nRUN definitely-not-a-command\n")
    _git(source, "-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    _git(source, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "own dockerfile")

    run = _launch(services, source)

    assert run.state == RunState.DEAD_LETTER
    assert run.reason.startswith("build failed")
    assert "definitely-not-a-command" in run.reason
