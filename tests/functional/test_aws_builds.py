"""Image builds on the AWS stack, through the Lambda handlers, against real local servers.

DynamoDB Local holds the state; moto server plays SQS, S3, ECR, CodeBuild, CloudWatch Logs
and SageMaker over HTTP. The services are the stack's own (``build_aws`` from the
environment template.yaml sets): code uploaded with ``POST /code`` -> a run of it enqueued
on a SageMaker queue whose config says ``TrainingImage: "${image_uri}"`` -> the dispatcher
(fed the real doorbell message) uploads the build context to S3 and starts a CodeBuild
build, leaving the run ``building`` -> the events function, given the "CodeBuild Build
State Change" sample (tests/events/) filled with the real build's ARN and environment,
resumes the run: submitted with the ECR image, or dead-lettered with the build's failure.

Gaps in moto, and how the tests work around them:

* moto keeps no ``environmentVariablesOverride``: the build's environment (with its
  ``LAUNCHQ_RUN_ID``) is read where boto3 sends StartBuild (a botocore ``before-send``
  hook; the call still reaches moto), as CodeBuild would put it into the event.
* moto answers every ``BatchGetBuilds`` with ``SUCCEEDED`` and no log location. The
  failed build is fed with botocore's ``Stubber`` on the builder's CodeBuild client: moto's
  own record of the build with only ``buildStatus``, ``phases`` and ``logs`` changed; the
  build log itself is real (written into moto's CloudWatch Logs).
* moto runs no build, so nothing is pushed: the second launch finds the image because the
  test puts it into moto's ECR (``PutImage``) under the tag, as the build would have.
* moto wants a ``location`` even for a ``NO_SOURCE`` project (else the template's).
"""

from __future__ import annotations

import base64
import copy
import io
import json
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from pydantic import ValidationError

from functions.aws import dispatcher, events
from launchq.adapters.builders.codebuild import CodeBuildBuilder
from launchq.adapters.stores.dynamodb import create_table
from launchq.aws.settings import AwsSettings
from launchq.aws.wiring import build_aws
from launchq.bootstrap import Services
from launchq.domain.models import Run
from tests.functional.aws_harness import CTX, call_api, doorbell_event, load_event

ACCOUNT = "123456789012"
DOCKERFILE = 'FROM python:3.11-slim\nCOPY train.py /app/train.py\nENTRYPOINT ["python", "/app/train.py"]\n'
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
SAGEMAKER_CONFIG = {
    "RoleArn": "launchq-training",
    "ResourceConfig": {"InstanceType": "ml.m4.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 2},
    "OutputDataConfig": {"S3OutputPath": "s3://launchq-test-output/models"},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "AlgorithmSpecification": {"TrainingImage": "${image_uri}", "TrainingInputMode": "File"},
}
# An image manifest as a build would push it (moto's ECR keeps it; nothing reads the layers).
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": {}, "layers": []})


@dataclass
class Stack:
    """The stack's services, its resources in moto, and the StartBuild requests sent."""

    svc: Services
    queue_url: str
    project: str
    bucket: str
    repository: str
    repository_uri: str
    started: list[dict[str, Any]] = field(default_factory=list)

    @property
    def builder(self) -> CodeBuildBuilder:
        assert isinstance(self.svc.ctx.builder, CodeBuildBuilder)
        return self.svc.ctx.builder


def _create_project(name: str) -> None:
    """moto's CodeBuild with the template's BuildProject (moto wants a location for NO_SOURCE)."""
    boto3.client("codebuild").create_project(
        name=name,
        source={"type": "NO_SOURCE", "location": "unused", "buildspec": "version: 0.2\n"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_MEDIUM",
            "privilegedMode": True,
        },
        serviceRole=f"arn:aws:iam::{ACCOUNT}:role/launchq-build",
    )


@pytest.fixture
def aws(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:8]
    table, project, bucket = f"launchq-{suffix}", f"launchq-build-{suffix}", f"launchq-artifacts-{suffix}"
    create_table(boto3.client("dynamodb"), table)
    queue_url = boto3.client("sqs").create_queue(QueueName=f"doorbell-{suffix}")["QueueUrl"]
    boto3.client("s3").create_bucket(Bucket=bucket)
    repository = boto3.client("ecr").create_repository(
        repositoryName=f"launchq-{suffix}", imageTagMutability="IMMUTABLE"
    )["repository"]
    _create_project(project)
    for name, value in {
        "LAUNCHQ_TABLE_NAME": table,
        "LAUNCHQ_DOORBELL_QUEUE_URL": queue_url,
        "LAUNCHQ_ACCOUNT_ID": ACCOUNT,
        "LAUNCHQ_BUILD_PROJECT": project,
        "LAUNCHQ_ARTIFACT_BUCKET": bucket,
        "LAUNCHQ_IMAGE_REPOSITORY_URI": repository["repositoryUri"],
    }.items():
        monkeypatch.setenv(name, value)
    svc = build_aws(AwsSettings())  # type: ignore[call-arg]
    # Lambda's writable space (tempfile's directory is /tmp there); the test's own here.
    assert svc.ctx.build_dir == Path(tempfile.gettempdir()) / "launchq-builds"
    svc.ctx.build_dir = tmp_path / "builds"
    stack = Stack(svc, queue_url, project, bucket, repository["repositoryName"], repository["repositoryUri"])

    def record_start_build(request: Any, **_: Any) -> None:
        stack.started.append(json.loads(request.body))

    stack.builder.codebuild.meta.events.register("before-send.codebuild.StartBuild", record_start_build)
    yield stack
    boto3.client("dynamodb").delete_table(TableName=table)


def _code_archive() -> bytes:
    """A tar.gz of a small project with its own Dockerfile."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in {"Dockerfile": DOCKERFILE, "train.py": "print('training')\n"}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _upload_code_and_queue(stack: Stack) -> str:
    """``POST /code`` the archive and create the SageMaker queue; the code's ``code://`` uri."""
    status, uploaded = call_api(
        stack.svc, "POST", "/code", {"data": base64.b64encode(_code_archive()).decode()}
    )
    assert status == 201, uploaded
    status, created = call_api(
        stack.svc,
        "POST",
        "/queues",
        {"name": "sm", "resource": "sagemaker", "config": SAGEMAKER_CONFIG, "max_jobs": 2},
    )
    assert status == 201, created
    return str(uploaded["uri"])


def _enqueue_and_dispatch(stack: Stack, uri: str) -> Run:
    status, enqueued = call_api(stack.svc, "POST", "/queues/sm/runs", {"uri": uri, "name": "built"})
    assert status == 201, enqueued
    assert dispatcher.handler(doorbell_event(stack.queue_url), CTX, stack.svc) == {"batchItemFailures": []}
    return stack.svc.runs.get(enqueued["id"])


def _builds(stack: Stack) -> list[str]:
    return list(boto3.client("codebuild").list_builds_for_project(projectName=stack.project)["ids"])


def _build_event(stack: Stack, build_id: str, status: str) -> dict[str, Any]:
    """The sample "CodeBuild Build State Change" filled with the real build and the environment
    StartBuild was sent with (CodeBuild reports a build's overrides in the event)."""
    build = boto3.client("codebuild").batch_get_builds(ids=[build_id])["builds"][0]
    request = stack.started[-1]  # the tests start one build each
    event = load_event("codebuild-build-state-change.json")
    detail = event["detail"]
    event["resources"] = [build["arn"]]
    detail.update({"build-status": status, "project-name": stack.project, "build-id": build["arn"]})
    info = detail["additional-information"]
    info["environment"]["environment-variables"] = request["environmentVariablesOverride"]
    info["source"] = {"location": request["sourceLocationOverride"], "type": "S3"}
    info["logs"] = {"group-name": f"/aws/codebuild/{stack.project}", "stream-name": build_id.split(":")[1]}
    return event


def _job(run: Run) -> dict[str, Any]:
    return dict(
        boto3.client("sagemaker").describe_training_job(TrainingJobName=run.handle["training_job_name"])
    )


def test_uploaded_code_is_built_by_codebuild_then_submitted_with_the_ecr_image(aws: Stack) -> None:
    # GIVEN code uploaded through the API and a SageMaker queue whose image is ${image_uri}
    uri = _upload_code_and_queue(aws)
    digest = uri.removeprefix("code://")
    assert boto3.client("s3").head_object(Bucket=aws.bucket, Key=f"code/{digest}.tar.gz")

    # WHEN a run of it (no docker_image) is enqueued and the dispatcher gets the doorbell
    run = _enqueue_and_dispatch(aws, uri)

    # THEN the run is building, with the id of a CodeBuild build moto has for the project
    assert run.state.value == "building", run.reason
    build_id, image_uri = run.build_id, run.image_uri
    assert build_id is not None
    assert image_uri is not None
    assert set(run.handle).isdisjoint({"build_id", "image_uri"})  # launchq's own, not the target's
    assert _builds(aws) == [build_id]
    repository_uri, _, tag = image_uri.rpartition(":")
    assert repository_uri == aws.repository_uri
    # AND the build context (the uploaded code with its Dockerfile) is in S3 under the tag
    (request,) = aws.started
    key = f"build-contexts/{tag}.tar.gz"
    assert request["sourceLocationOverride"] == f"{aws.bucket}/{key}"
    body = boto3.client("s3").get_object(Bucket=aws.bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["Dockerfile", "train.py"]
    # AND the build carries the run's id, so its state-change event names the run
    env = {v["name"]: v["value"] for v in request["environmentVariablesOverride"]}
    assert env["LAUNCHQ_RUN_ID"] == run.id
    assert env["IMAGE_URI"] == image_uri

    # WHEN CodeBuild reports the build SUCCEEDED
    outcome = events.handler(_build_event(aws, build_id, "SUCCEEDED"), CTX, aws.svc)

    # THEN the run is starting, as a SageMaker training job running the built ECR image
    assert outcome == {"run_id": run.id, "build_id": build_id, "state": "starting"}
    started = aws.svc.runs.get(run.id)
    assert started.state.value == "starting"
    assert _job(started)["AlgorithmSpecification"]["TrainingImage"] == f"{aws.repository_uri}:{tag}"
    assert started.build_id == build_id  # the build log stays reachable

    # WHEN the same event arrives again (EventBridge delivers at least once)
    again = events.handler(_build_event(aws, build_id, "SUCCEEDED"), CTX, aws.svc)

    # THEN nothing more happens: the run no longer waits on that build
    assert again == {"run_id": run.id, "build_id": build_id, "state": "starting"}
    assert len(boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]) == 1


def test_a_failed_build_dead_letters_the_run_with_the_build_log_tail(aws: Stack) -> None:
    """moto reports every build SUCCEEDED: BatchGetBuilds is stubbed (botocore Stubber) with
    moto's record of the build set to FAILED in BUILD with a log stream; the log is moto's."""
    run = _enqueue_and_dispatch(aws, _upload_code_and_queue(aws))
    build_id = run.build_id
    assert build_id is not None
    group, stream = f"/aws/codebuild/{aws.project}", build_id.split(":")[1]
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)  # CloudWatch Logs refuses events older than 14 days
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[
            {"timestamp": now, "message": "Step 2/3 : COPY train.py /app/train.py\n"},
            {"timestamp": now + 1, "message": "COPY failed: no space left on device\n"},
        ],
    )
    record = boto3.client("codebuild").batch_get_builds(ids=[build_id])["builds"][0]
    failed = record | {
        "buildStatus": "FAILED",
        "currentPhase": "COMPLETED",
        "phases": [
            {
                "phaseType": "BUILD",
                "phaseStatus": "FAILED",
                "contexts": [{"statusCode": "COMMAND_EXECUTION_ERROR"}],
            }
        ],
        "logs": {"groupName": group, "streamName": stream},
    }

    with Stubber(aws.builder.codebuild) as stubber:
        stubber.add_response("batch_get_builds", {"builds": [failed]}, {"ids": [build_id]})
        outcome = events.handler(_build_event(aws, build_id, "FAILED"), CTX, aws.svc)
        stubber.assert_no_pending_responses()

    assert outcome == {"run_id": run.id, "build_id": build_id, "state": "dead_letter"}
    dead = aws.svc.runs.get(run.id)
    assert dead.state.value == "dead_letter"
    assert dead.reason.startswith("build failed: CodeBuild build FAILED in BUILD")
    assert "COPY failed: no space left on device" in dead.reason
    assert boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []


def test_the_same_code_again_is_not_rebuilt_when_its_image_is_in_ecr(aws: Stack) -> None:
    # GIVEN a first run of the code, building, and its image pushed to ECR as the build would
    uri = _upload_code_and_queue(aws)
    first = _enqueue_and_dispatch(aws, uri)
    assert first.image_uri is not None
    tag = first.image_uri.rpartition(":")[2]
    boto3.client("ecr").put_image(repositoryName=aws.repository, imageManifest=MANIFEST, imageTag=tag)

    # WHEN the same code is launched again
    second = _enqueue_and_dispatch(aws, uri)

    # THEN no build is started: ECR has the tag, and the run goes straight to starting with it
    assert second.state.value == "starting", second.reason
    assert _builds(aws) == [first.build_id]
    assert len(aws.started) == 1
    assert _job(second)["AlgorithmSpecification"]["TrainingImage"] == f"{aws.repository_uri}:{tag}"
    reasons = [e.reason for e in aws.svc.runs.events(second.id)]
    assert f"image {aws.repository_uri}:{tag} is in the registry; no build" in reasons


def _variant(event: dict[str, Any], run_id: str | None = None, **detail: str) -> dict[str, Any]:
    """A copy of ``event`` with ``detail`` fields replaced and ``LAUNCHQ_RUN_ID`` set (None: removed)."""
    changed = copy.deepcopy(event)
    changed["detail"].update(detail)
    env = changed["detail"]["additional-information"]["environment"]
    variables = [v for v in env["environment-variables"] if v["name"] != "LAUNCHQ_RUN_ID"]
    if run_id is not None:
        variables.append({"name": "LAUNCHQ_RUN_ID", "value": run_id, "type": "PLAINTEXT"})
    env["environment-variables"] = variables
    return changed


def test_build_events_that_no_waiting_run_owns_are_ignored(aws: Stack) -> None:
    run = _enqueue_and_dispatch(aws, _upload_code_and_queue(aws))
    build_id = run.build_id
    assert build_id is not None
    succeeded = _build_event(aws, build_id, "SUCCEEDED")
    other_id = f"{aws.project}:{uuid.uuid4()}"
    cases = [
        # a build launchq did not start (no LAUNCHQ_RUN_ID in its environment)
        (_variant(succeeded), {"run_id": None, "build_id": build_id, "state": None}),
        # a run the store does not know
        (_variant(succeeded, "no-such-run"), {"run_id": "no-such-run", "build_id": build_id, "state": None}),
        # another build of that run (an earlier attempt's)
        (
            _variant(
                succeeded, run.id, **{"build-id": f"arn:aws:codebuild:us-east-1:{ACCOUNT}:build/{other_id}"}
            ),
            {"run_id": run.id, "build_id": other_id, "state": "building"},
        ),
        # the build still running
        (
            _variant(succeeded, run.id, **{"build-status": "IN_PROGRESS"}),
            {"run_id": run.id, "build_id": build_id, "state": None},
        ),
    ]
    for event, expected in cases:
        assert events.handler(event, CTX, aws.svc) == expected

    # THEN the run still waits on its build, and no job was started
    assert aws.svc.runs.get(run.id).state.value == "building"
    assert boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []
    # AND the SageMaker branch of the same function still ignores events of jobs it did not start
    sagemaker = load_event("sagemaker-training-job-state-change.json")
    sagemaker["detail"]["Tags"] = {}
    assert events.handler(sagemaker, CTX, aws.svc) == {"run_id": None, "state": None}


def test_build_settings_come_all_together_or_not_at_all(aws: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAUNCHQ_ARTIFACT_BUCKET")
    monkeypatch.delenv("LAUNCHQ_IMAGE_REPOSITORY_URI")
    with pytest.raises(
        ValidationError, match="missing: LAUNCHQ_ARTIFACT_BUCKET, LAUNCHQ_IMAGE_REPOSITORY_URI"
    ):
        AwsSettings()  # type: ignore[call-arg]
    monkeypatch.delenv("LAUNCHQ_BUILD_PROJECT")
    noop = build_aws(AwsSettings())  # type: ignore[call-arg]
    assert noop.ctx.builder.type == "noop"
    assert (noop.ctx.registry, noop.ctx.code_store) == (None, None)
