"""The ``codebuild`` builder: images are built and pushed by an AWS CodeBuild project.

A Lambda cannot wait for a build, so the builder is asynchronous. ``start`` packs the
plan's context directory into a deterministic tar.gz (``pack_context``), uploads it to
``s3://<bucket>/<context_prefix><tag>.tar.gz`` (skipped when that key already exists: the
tag is a content hash) and calls ``StartBuild`` on the stack's ``BuildProject`` with an S3
source, launchq's buildspec (``codebuild_spec``) and PLAINTEXT environment overrides. The
``idempotencyToken`` is ``<run id>-<tag>``, so a start retried within CodeBuild's
five-minute token window does not start a second build. An image already in the registry
is ``ready`` without a build: the stack's ECR repository has immutable tags, so pushing it
again would fail.

Statuses (``BatchGetBuilds``): ``IN_PROGRESS`` is ``building``, ``SUCCEEDED`` is ``ready``,
``FAILED``/``FAULT``/``TIMED_OUT``/``STOPPED`` are ``failed`` with the tail of the build's
CloudWatch log (or the failing phase's contexts when there is no log), and a build
CodeBuild does not know is ``failed`` ("build not found"). The EventBridge "CodeBuild
Build State Change" event is read with ``codebuild_state_change_build_id``,
``codebuild_state_change_run_id`` (the build's ``LAUNCHQ_RUN_ID``) and
``codebuild_state_change_status``.

Logins: ECR registries (``<account>.dkr.ecr.<region>.amazonaws.com``) are logged in to
with the build role; other registries must be open (``credentials()`` is None), because
passing a password would put it into the build record. SDK errors are
``BackendUnavailable``; a project CodeBuild does not have, or a request it refuses, is a
``failed`` build. No detail ever carries a credential.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from launchq.adapters import aws_sdk
from launchq.adapters.aws_sdk import aws_call, codes
from launchq.adapters.builders.codebuild_spec import (
    BuildState,
    build_result,
    buildspec,
    codebuild_state_change_build_id,
    codebuild_state_change_run_id,
    codebuild_state_change_status,
    environment,
    failing_phase,
)
from launchq.build.build_context import dockerfile_in_context, packed_context
from launchq.domain.models import Run
from launchq.errors import InvalidInput, LaunchFailed, NotFound
from launchq.ports import Builder, BuildPlan, BuildResult, Registry

if TYPE_CHECKING:
    from mypy_boto3_codebuild import CodeBuildClient
    from mypy_boto3_codebuild.type_defs import EnvironmentVariableTypeDef
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client

__all__ = [
    "BuildState",
    "CodeBuildBuilder",
    "build_result",
    "codebuild_state_change_build_id",
    "codebuild_state_change_run_id",
    "codebuild_state_change_status",
]

LOG_TAIL_LINES = 30
MAX_DETAIL_CHARS = 4_000
MAX_LOG_EVENTS = 10_000
_ECR_HOST = re.compile(
    r"^\d{12}\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?$"
)
# A project CodeBuild does not have, or a request it refuses: the build failed, not the backend.
_REFUSED = codes(LaunchFailed, "ResourceNotFoundException", "InvalidInputException")
_NO_SUCH_BUILD = codes(NotFound, "InvalidInputException")  # not even shaped like a build id
_NO_LOG_YET = codes(NotFound, "ResourceNotFoundException")  # the build failed before it logged
NEEDS_SOURCE = "the codebuild builder needs a source to build (uri) when no docker_image is given"


class CodeBuildBuilder(Builder):
    """Builds on a CodeBuild project from contexts uploaded to S3; clients built on first use."""

    type: ClassVar[str] = "codebuild"

    def __init__(
        self,
        project_name: str,
        bucket: str,
        registry: Registry,
        *,
        context_prefix: str = "build-contexts/",
        codebuild_client: CodeBuildClient | None = None,
        s3_client: S3Client | None = None,
        logs_client: CloudWatchLogsClient | None = None,
    ) -> None:
        self.project_name = project_name
        self.bucket = bucket
        self.registry = registry
        self.context_prefix = context_prefix
        self._codebuild = codebuild_client
        self._s3 = s3_client
        self._logs = logs_client

    # -- clients ------------------------------------------------------------------------
    @property
    def codebuild(self) -> CodeBuildClient:
        if self._codebuild is None:
            self._codebuild = aws_sdk.client("codebuild")
        return self._codebuild

    @property
    def s3(self) -> S3Client:
        if self._s3 is None:
            self._s3 = aws_sdk.client("s3")
        return self._s3

    @property
    def logs_client(self) -> CloudWatchLogsClient:
        if self._logs is None:
            self._logs = aws_sdk.client("logs")
        return self._logs

    def context_key(self, tag: str) -> str:
        """The S3 key of the build context for image tag ``tag``."""
        return f"{self.context_prefix}{tag}.tar.gz"

    # -- Builder ------------------------------------------------------------------------
    def check(self, run: Run) -> None:
        if not run.spec.docker_image and not run.spec.uri:
            raise InvalidInput(NEEDS_SOURCE, field="uri")

    def start(self, run: Run, plan: BuildPlan) -> BuildResult:
        """Upload the context (once per tag) and start the build; ``building`` with its id.

        ``ready`` when the registry already has the tag; ``failed`` for a plan that cannot
        be built (Dockerfile outside the context, a missing repository, a registry needing
        credentials, a missing project). Raises BackendUnavailable.
        """
        host = plan.image_uri.split("/", 1)[0]
        ecr = _ECR_HOST.match(host)
        try:
            if self.registry.exists(plan.tag):
                return BuildResult(
                    state="ready", image_uri=plan.image_uri, detail="image already in the registry"
                )
            self._check_login(host, ecr is not None)
            context = Path(plan.context_dir)
            dockerfile = dockerfile_in_context(context, plan.dockerfile)
            key = self._upload_context(context, plan.tag)
        except (InvalidInput, LaunchFailed) as exc:
            return BuildResult(state="failed", image_uri=plan.image_uri, detail=str(exc))
        env = environment(
            image_uri=plan.image_uri,
            registry_host=host,
            dockerfile=dockerfile,
            platform=plan.platform,
            registry_region=ecr.group("region") if ecr else "",
            run_id=run.id,
        )
        return self._start_build(run, plan, key, buildspec(ecr_login=ecr is not None), env)

    def status(self, run: Run, build_id: str) -> BuildResult:
        build = self._get_build(build_id)
        if build is None:
            return BuildResult(state="failed", build_id=build_id, detail=f"build not found: {build_id}")
        result = build_result(build)
        if result.state == "failed":
            return build_result(build, self._failure_detail(build))
        return result

    def logs(self, run: Run, build_id: str, offset: int = 0) -> tuple[str, int]:
        """Log lines from event ``offset`` on (each ending in a newline) and the next offset."""
        if offset < 0:
            raise InvalidInput("must be 0 or more", field="offset")
        build = self._get_build(build_id)
        group, stream = _log_location(build or {})
        if not group or not stream:
            return "", offset
        messages = self._read_log(group, stream, offset + MAX_LOG_EVENTS)
        chunk = messages[offset : offset + MAX_LOG_EVENTS]
        return "".join(m if m.endswith("\n") else m + "\n" for m in chunk), offset + len(chunk)

    # -- helpers ------------------------------------------------------------------------
    def _check_login(self, host: str, ecr: bool) -> None:
        """Refuse a registry the build could only push to with a password. Raises InvalidInput."""
        if not ecr and self.registry.credentials() is not None:
            raise InvalidInput(
                f"the codebuild builder pushes only to ECR (with its build role) or to an open "
                f"registry; {host} needs credentials, which launchq does not put into a build",
                field="registry",
            )

    def _upload_context(self, context: Path, tag: str) -> str:
        """Pack and upload the context unless its key exists; the key.

        Raises InvalidInput (no such directory), LaunchFailed (it cannot be packed),
        BackendUnavailable.
        """
        key = self.context_key(tag)
        if aws_sdk.s3_object_exists(self.s3, self.bucket, key):
            return key
        if not context.is_dir():
            raise InvalidInput(f"{context} is not a directory", field="context_dir")
        with packed_context(context) as archive, aws_call("S3 upload of the build context"):
            self.s3.upload_file(str(archive), self.bucket, key, ExtraArgs={"ContentType": "application/gzip"})
        return key

    def _start_build(
        self, run: Run, plan: BuildPlan, key: str, spec: str, env: list[EnvironmentVariableTypeDef]
    ) -> BuildResult:
        try:
            with aws_call(f"CodeBuild StartBuild on {self.project_name}", _REFUSED):
                answer = self.codebuild.start_build(
                    projectName=self.project_name,
                    sourceTypeOverride="S3",
                    sourceLocationOverride=f"{self.bucket}/{key}",
                    buildspecOverride=spec,
                    environmentVariablesOverride=env,
                    idempotencyToken=f"{run.id}-{plan.tag}",
                )
        except LaunchFailed as refused:
            return BuildResult(state="failed", image_uri=plan.image_uri, detail=str(refused))
        return BuildResult(state="building", build_id=answer["build"]["id"], image_uri=plan.image_uri)

    def _get_build(self, build_id: str) -> Mapping[str, Any] | None:
        """BatchGetBuilds for one id; None when CodeBuild does not know it."""
        try:
            with aws_call("CodeBuild BatchGetBuilds", _NO_SUCH_BUILD):
                answer = self.codebuild.batch_get_builds(ids=[build_id])
        except NotFound:
            return None
        return next((b for b in answer.get("builds", []) if b.get("id") == build_id), None)

    def _failure_detail(self, build: Mapping[str, Any]) -> str:
        """ "CodeBuild FAILED in BUILD" and the log's last lines, else the phase's contexts."""
        phase = failing_phase(build)
        head = f"CodeBuild build {build.get('buildStatus', '')}"
        if phase.get("phaseType"):
            head += f" in {phase['phaseType']}"
        group, stream = _log_location(build)
        tail = self._log_tail(group, stream) if group and stream else ""
        if not tail:
            contexts = [
                f"{c.get('statusCode', '')}: {c.get('message', '')}".strip(": ")
                for c in phase.get("contexts") or []
            ]
            tail = "\n".join(c for c in contexts if c)
        text = f"{head}:\n{tail}" if tail else head
        return text if len(text) <= MAX_DETAIL_CHARS else "..." + text[-MAX_DETAIL_CHARS:]

    def _log_tail(self, group: str, stream: str) -> str:
        try:
            with aws_call("CloudWatch Logs GetLogEvents", _NO_LOG_YET):
                page = self.logs_client.get_log_events(
                    logGroupName=group, logStreamName=stream, startFromHead=False, limit=LOG_TAIL_LINES
                )
        except NotFound:
            return ""
        return "\n".join(e.get("message", "").rstrip("\n") for e in page.get("events", []))

    def _read_log(self, group: str, stream: str, wanted: int) -> list[str]:
        """Up to ``wanted`` messages from the stream's start; [] when it does not exist yet."""
        messages: list[str] = []
        token: str | None = None
        try:
            with aws_call("CloudWatch Logs GetLogEvents", _NO_LOG_YET):
                while len(messages) < wanted:
                    kwargs: dict[str, Any] = {"nextToken": token} if token else {}
                    page = self.logs_client.get_log_events(
                        logGroupName=group, logStreamName=stream, startFromHead=True, **kwargs
                    )
                    messages += [event.get("message", "") for event in page.get("events", [])]
                    following = page.get("nextForwardToken")
                    if not following or following == token:  # the same token back: the end
                        break
                    token = following
        except NotFound:
            return []
        return messages


def _log_location(build: Mapping[str, Any]) -> tuple[str, str]:
    logs = build.get("logs") or {}
    return str(logs.get("groupName") or ""), str(logs.get("streamName") or "")
