"""What the codebuild builder sends CodeBuild and reads back, as plain data.

Sent: the buildspec of every image build (``buildspecOverride``) and its environment
(``environmentVariablesOverride``). Read: a ``BatchGetBuilds`` build as a ``BuildResult``,
and the EventBridge "CodeBuild Build State Change" event's detail.

The buildspec holds no values: everything that varies per build comes in as PLAINTEXT
environment variables (``IMAGE_URI``, ``REGISTRY_HOST``, ``DOCKERFILE``, ``PLATFORM``,
and ``REGISTRY_REGION`` for ECR), so the same text serves every run and no secret is
ever written into a build record. ``LAUNCHQ_RUN_ID`` names the run the build is for: the
state-change event carries the build's environment, so the events function finds the run
without a scan (``codebuild_state_change_run_id``). ECR logins use the build role's own credentials
(``aws ecr get-login-password``); an open registry needs no login.

Pushing is in the ``build`` phase, right after ``docker build``: CodeBuild runs
``post_build`` even when ``build`` failed, and a push there would only add noise to the
log tail launchq shows as the failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import yaml

from launchq.ports import BuildResult

if TYPE_CHECKING:
    from mypy_boto3_codebuild.type_defs import EnvironmentVariableTypeDef

__all__ = [
    "BUILD_COMMANDS",
    "ECR_LOGIN",
    "BuildState",
    "build_result",
    "buildspec",
    "codebuild_state_change_build_id",
    "codebuild_state_change_run_id",
    "codebuild_state_change_status",
    "environment",
    "failing_phase",
]

BuildState = Literal["ready", "building", "failed"]
_STATES: dict[str, BuildState] = {
    "IN_PROGRESS": "building",
    "SUCCEEDED": "ready",
    "FAILED": "failed",
    "FAULT": "failed",
    "TIMED_OUT": "failed",
    "STOPPED": "failed",
}

ECR_LOGIN = (
    'aws ecr get-login-password --region "$REGISTRY_REGION"'
    ' | docker login --username AWS --password-stdin "$REGISTRY_HOST"'
)
BUILD_COMMANDS = (
    'docker build --platform "$PLATFORM" -f "$DOCKERFILE" -t "$IMAGE_URI" .',
    'docker push "$IMAGE_URI"',
)


def buildspec(*, ecr_login: bool) -> str:
    """The buildspec YAML: log in (ECR only), build the context's Dockerfile, push the image."""
    phases: dict[str, Any] = {}
    if ecr_login:
        phases["pre_build"] = {"commands": [ECR_LOGIN]}
    phases["build"] = {"commands": list(BUILD_COMMANDS)}
    spec = {
        "version": 0.2,
        # BuildKit honours --platform and caches layers better than the classic builder.
        "env": {"variables": {"DOCKER_BUILDKIT": "1"}},
        "phases": phases,
    }
    return yaml.safe_dump(spec, sort_keys=False, default_flow_style=False, width=10_000)


RUN_ID_VARIABLE = "LAUNCHQ_RUN_ID"


def environment(
    *,
    image_uri: str,
    registry_host: str,
    dockerfile: str,
    platform: str,
    registry_region: str = "",
    run_id: str = "",
) -> list[EnvironmentVariableTypeDef]:
    """``environmentVariablesOverride`` for one build: PLAINTEXT values, never a credential."""
    values = {
        "IMAGE_URI": image_uri,
        "REGISTRY_HOST": registry_host,
        "DOCKERFILE": dockerfile,
        "PLATFORM": platform,
    }
    if registry_region:
        values["REGISTRY_REGION"] = registry_region
    if run_id:
        values[RUN_ID_VARIABLE] = run_id
    return [{"name": name, "value": value, "type": "PLAINTEXT"} for name, value in values.items()]


def codebuild_state_change_build_id(detail: Mapping[str, Any]) -> str | None:
    """The build id (``<project>:<uuid>``) of a "CodeBuild Build State Change" event's detail.

    EventBridge sends ``build-id`` as the build's ARN
    (``arn:aws:codebuild:<region>:<account>:build/<project>:<uuid>``); a bare id is
    accepted as well. None when the field is missing or is not a build ARN.
    """
    value = detail.get("build-id")
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("arn:"):
        _, found, build_id = value.partition(":build/")
        return build_id if found and ":" in build_id else None
    return value


def codebuild_state_change_run_id(detail: Mapping[str, Any]) -> str | None:
    """The launchq run a "CodeBuild Build State Change" event's build is for: the
    ``LAUNCHQ_RUN_ID`` entry of ``additional-information.environment.environment-variables``
    (``[{"name", "value", "type"}, ...]``). None when the build has no such variable (one
    launchq did not start) or the event is not shaped so."""
    info = detail.get("additional-information")
    environment = info.get("environment") if isinstance(info, Mapping) else None
    variables = environment.get("environment-variables") if isinstance(environment, Mapping) else None
    if not isinstance(variables, list):
        return None
    for variable in variables:
        if isinstance(variable, Mapping) and variable.get("name") == RUN_ID_VARIABLE:
            value = variable.get("value")
            return value if isinstance(value, str) and value else None
    return None


def codebuild_state_change_status(detail: Mapping[str, Any]) -> BuildState:
    """The build's state (``building``/``ready``/``failed``) from the event's ``build-status``.

    An unknown status is ``building``: the build is not known to be over, and ``status``
    (which reads the log tail for the failure detail) will tell.
    """
    return _STATES.get(str(detail.get("build-status", "")), "building")


def build_result(build: Mapping[str, Any], detail: str = "") -> BuildResult:
    """A ``BatchGetBuilds`` build as a BuildResult (``detail`` for failed builds)."""
    status = str(build.get("buildStatus", ""))
    state = _STATES.get(status)
    image = _env_value(build, "IMAGE_URI")
    build_id = str(build.get("id", ""))
    if state is None:
        return BuildResult(
            state="building", build_id=build_id, image_uri=image, detail=f"unrecognised status {status!r}"
        )
    if state == "building":
        return BuildResult(
            state=state, build_id=build_id, image_uri=image, detail=str(build.get("currentPhase", ""))
        )
    return BuildResult(state=state, build_id=build_id, image_uri=image, detail=detail)


def _env_value(build: Mapping[str, Any], name: str) -> str:
    variables = build.get("environment", {}).get("environmentVariables", [])
    return next((str(v.get("value", "")) for v in variables if v.get("name") == name), "")


def failing_phase(build: Mapping[str, Any]) -> Mapping[str, Any]:
    """The first phase that ended other than SUCCEEDED (CodeBuild also reports CLIENT_ERROR); {} if none."""
    phases = build.get("phases") or []
    failed = [p for p in phases if p.get("phaseStatus") not in (None, "SUCCEEDED", "IN_PROGRESS")]
    return failed[0] if failed else {}
