"""The CodeBuild builder against a real moto server over HTTP (CodeBuild, S3, CloudWatch Logs).

Gaps in moto, and how each test works around them (each test says which it uses):

* moto keeps a build as a record only and does not keep ``sourceTypeOverride``,
  ``sourceLocationOverride``, ``buildspecOverride``, ``environmentVariablesOverride`` or
  ``idempotencyToken`` (a repeated token starts a second build record). The request is
  read where boto3 sends it (a botocore ``before-send`` hook; the call still reaches moto).
  The buildspec sent is then *run* with ``sh`` in the context unpacked from moto's S3,
  with recording stand-ins for ``docker`` and ``aws``, to show its commands work.
* moto answers every ``BatchGetBuilds`` with ``SUCCEEDED`` and no log group or stream.
  Other statuses and the log location are fed with botocore's ``Stubber``, as build
  records *recorded from moto* with only those fields changed; the CloudWatch log itself is
  real (group, stream and events put into moto).
* moto wants a ``location`` even for a ``NO_SOURCE`` project; the project is otherwise the
  template's ``BuildProject``.

The registry is the real ``EcrRegistry`` on moto's ECR, or ``OciRegistry`` on the session's
real ``docker-registry``. No Docker engine exists here: to show the buildspec really builds
and pushes, one test runs it with ``docker`` standing for ``buildah`` (same arguments) and
looks the image up in that registry.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config
from botocore.stub import Stubber
from mypy_boto3_codebuild import CodeBuildClient
from mypy_boto3_ecr import ECRClient
from mypy_boto3_logs import CloudWatchLogsClient
from mypy_boto3_logs.type_defs import InputLogEventTypeDef
from mypy_boto3_s3 import S3Client

from launchq.adapters.builders.codebuild import (
    CodeBuildBuilder,
    codebuild_state_change_build_id,
    codebuild_state_change_status,
)
from launchq.adapters.registries.ecr import EcrRegistry
from launchq.adapters.registries.oci import OciRegistry
from launchq.domain.models import Run, RunSpec
from launchq.errors import BackendUnavailable, InvalidInput
from launchq.ports import BuildPlan, Registry, RegistryCredentials
from tests.servers import free_port

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).parents[1] / "events"
PROJECT = "launchq-build"
BUCKET = "launchq-artifacts"
ECR_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
DOCKERFILE = "FROM scratch\nCOPY train.py /train.py\n"


def make_run(**spec: Any) -> Run:
    now = datetime.now(UTC)
    return Run(
        id=uuid.uuid4().hex[:16],
        queue="cb-queue",
        entity="team-a",
        spec=RunSpec(**spec),
        created_at=now,
        updated_at=now,
    )


def make_plan(context: Path, registry: Registry, tag: str = "0a1b2c3d4e5f", **fields: str) -> BuildPlan:
    values = {
        "image_uri": registry.image_uri(tag),
        "tag": tag,
        "context_dir": str(context),
        "dockerfile": "docker/Dockerfile",
    } | fields
    return BuildPlan(**values)


@pytest.fixture
def context(tmp_path: Path) -> Path:
    """A build context with its Dockerfile in a sub-directory."""
    root = tmp_path / "ctx"
    (root / "docker").mkdir(parents=True)
    (root / "docker" / "Dockerfile").write_text(DOCKERFILE)
    (root / "train.py").write_text("print('training')\n")
    return root


@pytest.fixture
def s3(aws_env: dict[str, str]) -> S3Client:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def codebuild(aws_env: dict[str, str]) -> CodeBuildClient:
    """moto's CodeBuild with the template's BuildProject."""
    client = boto3.client("codebuild")
    client.create_project(
        name=PROJECT,
        source={"type": "NO_SOURCE", "location": "unused", "buildspec": "version: 0.2\n"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_MEDIUM",
            "privilegedMode": True,
            "environmentVariables": [{"name": "IMAGE_REPOSITORY_URI", "value": f"{ECR_HOST}/launchq"}],
        },
        serviceRole="arn:aws:iam::123456789012:role/launchq-build",
    )
    return client


@pytest.fixture
def logs(aws_env: dict[str, str]) -> CloudWatchLogsClient:
    return boto3.client("logs")


@pytest.fixture
def ecr(aws_env: dict[str, str]) -> ECRClient:
    client = boto3.client("ecr")
    client.create_repository(repositoryName="launchq", imageTagMutability="IMMUTABLE")
    return client


@pytest.fixture
def registry(ecr: ECRClient) -> EcrRegistry:
    """The stack's ImageRepository, in moto's ECR."""
    return EcrRegistry(f"{ECR_HOST}/launchq", client=ecr)


@pytest.fixture
def builder(
    codebuild: CodeBuildClient, s3: S3Client, logs: CloudWatchLogsClient, registry: EcrRegistry
) -> CodeBuildBuilder:
    return CodeBuildBuilder(
        PROJECT, BUCKET, registry, codebuild_client=codebuild, s3_client=s3, logs_client=logs
    )


@pytest.fixture
def sent(builder: CodeBuildBuilder) -> dict[str, list[dict[str, Any]]]:
    """Requests as boto3 sends them (``before-send``), by operation: StartBuild bodies, PutObjects."""
    requests: dict[str, list[dict[str, Any]]] = {"StartBuild": [], "PutObject": []}

    def start_build(request: Any, **_: Any) -> None:
        requests["StartBuild"].append(json.loads(request.body))

    def put_object(request: Any, **_: Any) -> None:
        requests["PutObject"].append({"url": request.url})

    builder.codebuild.meta.events.register("before-send.codebuild.StartBuild", start_build)
    builder.s3.meta.events.register("before-send.s3.PutObject", put_object)
    return requests


@contextmanager
def stubbed_codebuild(builder: CodeBuildBuilder, *builds: dict[str, Any]) -> Iterator[None]:
    """Stubber on the builder's CodeBuild client, answering BatchGetBuilds with ``builds``."""
    with Stubber(builder.codebuild) as stubber:
        for build in builds:
            stubber.add_response("batch_get_builds", {"builds": [build]}, {"ids": [build["id"]]})
        yield
        stubber.assert_no_pending_responses()


def recorded(codebuild: CodeBuildClient, build_id: str, **fields: Any) -> dict[str, Any]:
    """moto's record of ``build_id`` (as boto3 parsed it) with ``fields`` set."""
    build = dict(codebuild.batch_get_builds(ids=[build_id])["builds"][0])
    return build | fields


def put_log(
    logs: CloudWatchLogsClient, group: str, stream: str, lines: list[str], *, create: bool = True
) -> None:
    """Write ``lines`` to the stream, creating its group and stream first unless told not to."""
    if create:
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    events: list[InputLogEventTypeDef] = [
        {"timestamp": now + i, "message": line + "\n"} for i, line in enumerate(lines)
    ]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def env_of(request: dict[str, Any]) -> dict[str, str]:
    variables = request["environmentVariablesOverride"]
    assert {v["type"] for v in variables} == {"PLAINTEXT"}
    return {v["name"]: v["value"] for v in variables}


# -- start --------------------------------------------------------------------------------
def test_start_uploads_the_context_and_starts_a_build(
    builder: CodeBuildBuilder,
    codebuild: CodeBuildClient,
    s3: S3Client,
    context: Path,
    registry: EcrRegistry,
    sent: dict[str, list[dict[str, Any]]],
) -> None:
    # GIVEN a plan whose Dockerfile lies in a sub-directory of its context
    run, plan = make_run(uri="https://github.com/acme/train"), make_plan(context, registry)
    # WHEN the build starts
    result = builder.start(run, plan)
    # THEN it is building, under the id of a build record moto has for the project
    assert result.state == "building"
    assert result.image_uri == plan.image_uri
    assert result.build_id in codebuild.list_builds_for_project(projectName=PROJECT)["ids"]
    assert recorded(codebuild, result.build_id)["projectName"] == PROJECT
    # AND the context is in S3 under the tag, a tar.gz holding the Dockerfile and the code
    key = f"build-contexts/{plan.tag}.tar.gz"
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["docker", "docker/Dockerfile", "train.py"]
        dockerfile = tar.extractfile("docker/Dockerfile")
        assert dockerfile is not None
        assert dockerfile.read().decode() == DOCKERFILE
    # AND StartBuild (read as sent: moto keeps no override) points at it with our buildspec
    (request,) = sent["StartBuild"]
    assert request["projectName"] == PROJECT
    assert request["sourceTypeOverride"] == "S3"
    assert request["sourceLocationOverride"] == f"{BUCKET}/{key}"
    assert request["idempotencyToken"] == f"{run.id}-{plan.tag}"
    assert env_of(request) == {
        "LAUNCHQ_RUN_ID": run.id,
        "IMAGE_URI": plan.image_uri,
        "REGISTRY_HOST": ECR_HOST,
        "DOCKERFILE": "docker/Dockerfile",
        "PLATFORM": "linux/amd64",
        "REGISTRY_REGION": "us-east-1",
    }
    spec = yaml.safe_load(request["buildspecOverride"])
    assert spec["version"] == 0.2
    assert spec["phases"]["build"]["commands"] == [
        'docker build --platform "$PLATFORM" -f "$DOCKERFILE" -t "$IMAGE_URI" .',
        'docker push "$IMAGE_URI"',
    ]
    assert "post_build" not in spec["phases"]  # it would run after a failed build too


STAND_IN = """#!/bin/sh
if [ "$1" = login ]; then stdin=$(cat); fi  # after the other end of the pipe is done
printf '%s\\n' "$(basename "$0") $*" >> "$CALLS"
if [ "$1" = login ]; then printf 'stdin=%s\\n' "$stdin" >> "$CALLS"; fi
if [ "$1" = ecr ]; then printf 'ecr-token'; fi
if [ "$1" = build ]; then test -f "$5" || { echo "no Dockerfile $5 in $(pwd)" >&2; exit 1; }; fi
"""


def unpack_context(s3: S3Client, tag: str, dest: Path) -> Path:
    """The build context uploaded for ``tag``, read from moto's S3 and unpacked into ``dest``."""
    body = s3.get_object(Bucket=BUCKET, Key=f"build-contexts/{tag}.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")
    return dest


def run_buildspec(
    spec: dict[str, Any], workdir: Path, env: dict[str, str], bin_dir: Path, docker: str = STAND_IN
) -> list[str]:
    """Run the buildspec's commands phase by phase with ``sh``, as CodeBuild does; the calls recorded."""
    bin_dir.mkdir()
    for name, script in (("docker", docker), ("aws", STAND_IN)):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(stat.S_IRWXU)
    calls = bin_dir / "calls.txt"
    calls.touch()
    shell_env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(calls),
        **spec.get("env", {}).get("variables", {}),
        **env,
    }
    for phase in ("install", "pre_build", "build", "post_build"):
        for command in spec["phases"].get(phase, {}).get("commands", []):
            subprocess.run(["sh", "-c", command], cwd=workdir, env=shell_env, check=True, timeout=300)
    return calls.read_text().splitlines()


def test_the_buildspec_sent_logs_in_builds_the_context_and_pushes(
    builder: CodeBuildBuilder,
    s3: S3Client,
    context: Path,
    registry: EcrRegistry,
    sent: dict[str, list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    # GIVEN a started build (its request read as sent; the context read back from moto's S3)
    plan = make_plan(context, registry, platform="linux/arm64")
    builder.start(make_run(uri="."), plan)
    (request,) = sent["StartBuild"]
    unpacked = unpack_context(s3, plan.tag, tmp_path / "src")
    # WHEN its buildspec runs in the unpacked context with the override environment
    calls = run_buildspec(
        yaml.safe_load(request["buildspecOverride"]), unpacked, env_of(request), tmp_path / "bin"
    )
    # THEN it logs in to ECR with the build role's token, builds the Dockerfile for the
    # platform with the plan's tag from the context root, and pushes that image
    assert calls == [
        "aws ecr get-login-password --region us-east-1",
        f"docker login --username AWS --password-stdin {ECR_HOST}",
        "stdin=ecr-token",
        f"docker build --platform linux/arm64 -f docker/Dockerfile -t {plan.image_uri} .",
        f"docker push {plan.image_uri}",
    ]


def test_a_second_start_with_the_same_tag_does_not_upload_again(
    builder: CodeBuildBuilder,
    s3: S3Client,
    context: Path,
    registry: EcrRegistry,
    sent: dict[str, list[dict[str, Any]]],
) -> None:
    # GIVEN a build started once
    run, plan = make_run(uri="."), make_plan(context, registry)
    builder.start(run, plan)
    key = f"build-contexts/{plan.tag}.tar.gz"
    before = s3.head_object(Bucket=BUCKET, Key=key)
    # WHEN the start is retried (e.g. the dispatcher's claim expired mid-way)
    builder.start(run, plan)
    # THEN the context was uploaded once: one PutObject, the object untouched
    assert len(sent["PutObject"]) == 1
    after = s3.head_object(Bucket=BUCKET, Key=key)
    assert (after["ETag"], after["LastModified"]) == (before["ETag"], before["LastModified"])
    # AND both StartBuild requests carry the same idempotency token, so CodeBuild starts one
    # build (moto ignores the token: only the requests sent can be compared)
    tokens = [request["idempotencyToken"] for request in sent["StartBuild"]]
    assert tokens == [f"{run.id}-{plan.tag}"] * 2


def test_an_image_already_in_the_registry_is_ready_without_a_build(
    builder: CodeBuildBuilder, codebuild: CodeBuildClient, s3: S3Client, ecr: ECRClient, context: Path
) -> None:
    # GIVEN moto's ECR repository already holds the plan's tag (immutable: a push would fail)
    plan = make_plan(context, builder.registry)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}
    ecr.put_image(repositoryName="launchq", imageManifest=json.dumps(manifest), imageTag=plan.tag)
    # WHEN a build is started  THEN it is ready, nothing uploaded and no build started
    result = builder.start(make_run(uri="."), plan)
    assert (result.state, result.image_uri) == ("ready", plan.image_uri)
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    assert codebuild.list_builds_for_project(projectName=PROJECT)["ids"] == []


def test_an_open_registry_gets_no_login_and_one_needing_a_password_is_refused(
    codebuild: CodeBuildClient, s3: S3Client, context: Path, oci_registry: str
) -> None:
    # GIVEN an open OCI registry (real, plain HTTP), and one that is given a password
    open_registry = OciRegistry(f"{oci_registry}/team/train", insecure=True)
    password = RegistryCredentials(username="robot", password="s3cr3t-value", server=oci_registry)
    locked = OciRegistry(f"{oci_registry}/team/locked", insecure=True, credentials=password)
    sent: list[dict[str, Any]] = []
    codebuild.meta.events.register(
        "before-send.codebuild.StartBuild", lambda request, **_: sent.append(json.loads(request.body))
    )
    # WHEN each is built for
    opened = CodeBuildBuilder(PROJECT, BUCKET, open_registry, codebuild_client=codebuild, s3_client=s3)
    assert opened.start(make_run(uri="."), make_plan(context, open_registry)).state == "building"
    refused = CodeBuildBuilder(PROJECT, BUCKET, locked, codebuild_client=codebuild, s3_client=s3)
    result = refused.start(make_run(uri="."), make_plan(context, locked, tag="ffff"))
    # THEN the open one builds without a login phase or region
    (request,) = sent
    assert "pre_build" not in yaml.safe_load(request["buildspecOverride"])["phases"]
    assert env_of(request)["REGISTRY_HOST"] == oci_registry
    assert "REGISTRY_REGION" not in env_of(request)
    # AND the locked one fails at once, naming the host and never the password
    assert result.state == "failed"
    assert f"{oci_registry} needs credentials" in result.detail
    assert "s3cr3t" not in result.detail


BUILDAH_AS_DOCKER = """#!/bin/sh
# docker as the buildspec uses it, done by buildah (no Docker engine here)
case "$1" in
  build) shift; exec buildah bud --isolation chroot --pull=never --format docker "$@" ;;
  push) exec buildah push --tls-verify=false "$2" ;;
  *) echo "unexpected: docker $*" >&2; exit 2 ;;
esac
"""


def test_the_buildspec_builds_and_pushes_a_real_image(
    codebuild: CodeBuildClient,
    s3: S3Client,
    context: Path,
    oci_registry: str,
    buildah_storage: Path,
    tmp_path: Path,
) -> None:
    # GIVEN a build started for a real registry that lacks the image
    registry = OciRegistry(f"{oci_registry}/team/train", insecure=True)
    builder = CodeBuildBuilder(PROJECT, BUCKET, registry, codebuild_client=codebuild, s3_client=s3)
    sent: list[dict[str, Any]] = []
    codebuild.meta.events.register(
        "before-send.codebuild.StartBuild", lambda request, **_: sent.append(json.loads(request.body))
    )
    run, plan = make_run(uri="."), make_plan(context, registry)
    assert builder.start(run, plan).state == "building"
    # WHEN CodeBuild's part is played: the context from S3, the buildspec and environment sent
    (request,) = sent
    unpacked = unpack_context(s3, plan.tag, tmp_path / "src")
    run_buildspec(
        yaml.safe_load(request["buildspecOverride"]),
        unpacked,
        env_of(request),
        tmp_path / "bin",
        docker=BUILDAH_AS_DOCKER,
    )
    # THEN the image is in the registry under the plan's tag, and starting again is ready at once
    assert registry.exists(plan.tag)
    assert builder.start(run, plan).state == "ready"
    assert len(sent) == 1


def test_a_dockerfile_outside_the_context_fails_without_upload(
    builder: CodeBuildBuilder, s3: S3Client, context: Path, registry: EcrRegistry, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    for dockerfile in ("../Dockerfile", str(tmp_path / "Dockerfile"), "missing/Dockerfile"):
        result = builder.start(make_run(uri="."), make_plan(context, registry, dockerfile=dockerfile))
        assert result.state == "failed"
        assert "Dockerfile" in result.detail
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_a_missing_project_is_a_failed_build(
    s3: S3Client, codebuild: CodeBuildClient, context: Path, registry: EcrRegistry
) -> None:
    builder = CodeBuildBuilder("no-such-project", BUCKET, registry, codebuild_client=codebuild, s3_client=s3)
    result = builder.start(make_run(uri="."), make_plan(context, registry))
    assert result.state == "failed"
    assert "ResourceNotFoundException" in result.detail


def test_unreachable_services_are_backend_unavailable(
    aws_env: dict[str, str], context: Path, registry: EcrRegistry
) -> None:
    # GIVEN clients pointed at a port nobody listens on
    dead = f"http://127.0.0.1:{free_port()}"
    config = Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1)
    builder = CodeBuildBuilder(
        PROJECT,
        BUCKET,
        registry,
        codebuild_client=boto3.client("codebuild", endpoint_url=dead, config=config),
        s3_client=boto3.client("s3", endpoint_url=dead, config=config),
        logs_client=boto3.client("logs", endpoint_url=dead, config=config),
    )
    # WHEN the builder is used  THEN BackendUnavailable, no botocore error and no secret key
    with pytest.raises(BackendUnavailable) as starting:
        builder.start(make_run(uri="."), make_plan(context, registry))
    with pytest.raises(BackendUnavailable) as polling:
        builder.status(make_run(uri="."), f"{PROJECT}:{uuid.uuid4()}")
    for caught in (starting, polling):
        assert "testing" not in str(caught.value)


def test_check_needs_a_source_or_an_image(builder: CodeBuildBuilder) -> None:
    builder.check(make_run(uri="https://github.com/acme/train"))
    builder.check(make_run(docker_image=f"{ECR_HOST}/prebuilt:1"))
    with pytest.raises(InvalidInput) as caught:
        builder.check(make_run())
    assert caught.value.field == "uri"


# -- status -------------------------------------------------------------------------------
@pytest.fixture
def started(builder: CodeBuildBuilder, context: Path, registry: EcrRegistry) -> str:
    """A build started in moto; its id."""
    return builder.start(make_run(uri="."), make_plan(context, registry)).build_id


def test_status_of_a_build_moto_ran_is_ready(builder: CodeBuildBuilder, started: str) -> None:
    # moto reports every build SUCCEEDED on BatchGetBuilds (real moto, no stub)
    result = builder.status(make_run(uri="."), started)
    assert (result.state, result.build_id) == ("ready", started)


def test_an_unknown_build_is_failed_not_found(builder: CodeBuildBuilder, started: str) -> None:
    result = builder.status(make_run(uri="."), f"{PROJECT}:{uuid.uuid4()}")
    assert (result.state, result.detail.startswith("build not found")) == ("failed", True)
    assert builder.logs(make_run(uri="."), f"{PROJECT}:{uuid.uuid4()}") == ("", 0)


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("IN_PROGRESS", "building"),
        ("SUCCEEDED", "ready"),
        ("FAILED", "failed"),
        ("FAULT", "failed"),
        ("TIMED_OUT", "failed"),
        ("STOPPED", "failed"),
    ],
)
def test_each_codebuild_status_maps_to_a_build_state(
    builder: CodeBuildBuilder, codebuild: CodeBuildClient, started: str, status: str, state: str
) -> None:
    # GIVEN moto's record of the build with CodeBuild's status set (Stubber: moto has one status)
    image = f"{ECR_HOST}/launchq:0a1b2c3d4e5f"
    environment = recorded(codebuild, started)["environment"] | {
        "environmentVariables": [{"name": "IMAGE_URI", "value": image, "type": "PLAINTEXT"}]
    }
    build = recorded(codebuild, started, buildStatus=status, currentPhase="BUILD", environment=environment)
    # WHEN its status is asked  THEN the state is CodeBuild's, with the image it pushes
    with stubbed_codebuild(builder, build):
        result = builder.status(make_run(uri="."), started)
    assert (result.state, result.build_id, result.image_uri) == (state, started, image)


def test_a_failed_build_reports_the_tail_of_its_cloudwatch_log(
    builder: CodeBuildBuilder, codebuild: CodeBuildClient, logs: CloudWatchLogsClient, started: str
) -> None:
    # GIVEN a failed build whose log (real, in moto's CloudWatch Logs) has 40 lines
    group, stream = f"/aws/codebuild/{PROJECT}", started.split(":", 1)[1]
    put_log(logs, group, stream, [f"step {n}" for n in range(39)] + ["ERROR: failed to solve: exit 1"])
    build = recorded(
        codebuild,
        started,
        buildStatus="FAILED",
        logs={"groupName": group, "streamName": stream},
        phases=[{"phaseType": "BUILD", "phaseStatus": "FAILED", "contexts": [{"message": "exit 1"}]}],
    )
    # WHEN its status is asked
    with stubbed_codebuild(builder, build):
        result = builder.status(make_run(uri="."), started)
    # THEN it failed, in BUILD, with the last 30 log lines as the detail
    assert result.state == "failed"
    lines = result.detail.splitlines()
    assert lines[0] == "CodeBuild build FAILED in BUILD:"
    assert lines[1:] == [f"step {n}" for n in range(10, 39)] + ["ERROR: failed to solve: exit 1"]


def test_a_failed_build_without_a_log_reports_its_phase_contexts(
    builder: CodeBuildBuilder, codebuild: CodeBuildClient, started: str
) -> None:
    # GIVEN a build that timed out while downloading its source, before any log stream existed
    build = recorded(
        codebuild,
        started,
        buildStatus="FAULT",
        logs={"groupName": f"/aws/codebuild/{PROJECT}", "streamName": "never-created"},
        phases=[
            {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED"},
            {
                "phaseType": "DOWNLOAD_SOURCE",
                "phaseStatus": "CLIENT_ERROR",
                "contexts": [{"statusCode": "CLIENT_ERROR", "message": "NoSuchKey: build-contexts/x.tar.gz"}],
            },
        ],
    )
    with stubbed_codebuild(builder, build):
        result = builder.status(make_run(uri="."), started)
    assert result.state == "failed"
    assert result.detail == (
        "CodeBuild build FAULT in DOWNLOAD_SOURCE:\nCLIENT_ERROR: NoSuchKey: build-contexts/x.tar.gz"
    )


def test_logs_are_read_from_cloudwatch_from_an_offset(
    builder: CodeBuildBuilder, codebuild: CodeBuildClient, logs: CloudWatchLogsClient, started: str
) -> None:
    # GIVEN a build whose log stream (in moto) holds three lines, then two more
    group, stream = f"/aws/codebuild/{PROJECT}", started.split(":", 1)[1]
    build = recorded(codebuild, started, logs={"groupName": group, "streamName": stream})
    put_log(logs, group, stream, ["one", "two", "three"])
    with stubbed_codebuild(builder, build, build):
        first = builder.logs(make_run(uri="."), started)
        put_log(logs, group, stream, ["four", "five"], create=False)
        second = builder.logs(make_run(uri="."), started, offset=first[1])
    # THEN each call returns the lines after the offset, and the next offset
    assert first == ("one\ntwo\nthree\n", 3)
    assert second == ("four\nfive\n", 5)


# -- EventBridge --------------------------------------------------------------------------
def sample_detail(**fields: str) -> dict[str, Any]:
    event = json.loads((EVENTS / "codebuild-build-state-change.json").read_text())
    assert event["detail-type"] == "CodeBuild Build State Change"
    return dict(event["detail"]) | fields


def test_the_state_change_event_names_the_build_and_its_state() -> None:
    # GIVEN the documented event (build-id is the build's ARN)
    detail = sample_detail()
    # THEN the build id is the ARN's last part, the one BatchGetBuilds takes
    assert codebuild_state_change_build_id(detail) == "launchq-build:6a1f3c52-9d0e-4b7a-8c21-5e4d3b2a1f00"
    assert codebuild_state_change_build_id(sample_detail(**{"build-id": "p:1"})) == "p:1"
    assert codebuild_state_change_build_id({}) is None
    assert codebuild_state_change_build_id(sample_detail(**{"build-id": "arn:aws:s3:::bucket"})) is None
    # AND each status is a build state (an unknown one is not taken as the end)
    expected = {
        "IN_PROGRESS": "building",
        "SUCCEEDED": "ready",
        "FAILED": "failed",
        "FAULT": "failed",
        "TIMED_OUT": "failed",
        "STOPPED": "failed",
        "SOMETHING_NEW": "building",
    }
    for status, state in expected.items():
        assert codebuild_state_change_status(sample_detail(**{"build-status": status})) == state


def test_the_event_build_id_is_the_one_start_returned(
    builder: CodeBuildBuilder, codebuild: CodeBuildClient, started: str
) -> None:
    # GIVEN the sample event filled with a real build's ARN from moto
    arn = recorded(codebuild, started)["arn"]
    # THEN the parser leads back to the id start() returned
    assert codebuild_state_change_build_id(sample_detail(**{"build-id": arn})) == started


def test_a_missing_ecr_repository_is_a_failed_build(
    codebuild: CodeBuildClient, s3: S3Client, ecr: ECRClient, context: Path
) -> None:
    # GIVEN a registry URI whose repository was never created in moto's ECR
    registry = EcrRegistry(f"{ECR_HOST}/absent", client=ecr)
    builder = CodeBuildBuilder(PROJECT, BUCKET, registry, codebuild_client=codebuild, s3_client=s3)
    # WHEN a build starts  THEN it fails naming the repository, and no build is started
    result = builder.start(make_run(uri="."), make_plan(context, registry))
    assert (result.state, "'absent' does not exist" in result.detail) == ("failed", True)
    assert codebuild.list_builds_for_project(projectName=PROJECT)["ids"] == []
