"""W&B-compatible ``resource_args.sagemaker``, normalised into a ``CreateTrainingJob`` request.

Users write the config as W&B's SageMaker docs do: the body of a ``CreateTrainingJob``
request in boto3's CamelCase (``RoleArn``, ``ResourceConfig.InstanceType``), or the same
keys in snake_case (``role_arn``, ``resource_config.instance_type``) as W&B's runner also
accepts. Keys are matched against the AWS SDK's own model of the request, recursively, so
``volume_size_in_gb`` finds ``VolumeSizeInGB``, every nested key is checked, and the keys
of maps (``Environment``, ``HyperParameters``) are kept as written.

Choices, where W&B differs or is silent:

- ``StoppingCondition`` defaults to ``{"MaxRuntimeInSeconds": 86400}``, SageMaker's own
  default of one day (W&B refuses a config without one).
- ``Environment``: SageMaker allows 100 variables of at most 512 characters each. A longer
  value is refused, naming ``resource_args.sagemaker.Environment.<KEY>`` (or ``env.<KEY>``
  when it came from the run's ``env``). It is not split into numbered variables as W&B
  does for its own ``WANDB_CONFIG``: the program would receive variables it never asked for.
- A key whose value is ``null`` is dropped, as W&B drops them (a template variable left
  empty, a key switched off in an override), at any depth.
- W&B's launcher keys are honoured, never passed to SageMaker: ``region`` and ``profile``
  choose where the job is submitted (the AWS profile must exist where launchq submits;
  the run's handle keeps both, so status, stop and logs go to the same place), and
  ``EcrRepoName`` says which ECR repository the job's image must come from -- an image
  from anywhere else is refused, naming the key, rather than launched in spite of it.
- ``LAUNCHQ_*``/``WANDB_*`` variables are added to ``Environment``. A user's own value
  wins, as in W&B (the config's ``Environment``, then the run's ``env`` over both), and
  the run's events say which of launchq's values were not used.
- A bare role name is expanded to ``arn:<partition>:iam::<account>:role/<name>`` (as W&B does).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from launchq.adapters import aws_sdk
from launchq.adapters.registries.uri import parse_registry_uri, registry_kind
from launchq.config.macros import project_name
from launchq.config.secrets import parse_secrets
from launchq.domain.models import JsonObject, RunSpec
from launchq.errors import InvalidInput

if TYPE_CHECKING:
    from launchq.adapters.aws_sdk import ListShape, MapShape, Shape, StructureShape

RESOURCE = "sagemaker"
FIELD = f"resource_args.{RESOURCE}"
ENV_VALUE_LIMIT = 512
ENV_COUNT_LIMIT = 100
TAG_COUNT_LIMIT = 50
DEFAULT_STOPPING_CONDITION: JsonObject = {"MaxRuntimeInSeconds": 86_400}
DEFAULT_INPUT_MODE = "File"
RUN_ID_TAG = "launchq:run-id"
QUEUE_TAG = "launchq:queue"
# W&B's launcher keys: read by launchq, never sent to SageMaker.
LAUNCHER_KEYS = {
    "EcrRepoName": "ecr_repo_name",
    "ecr_repo_name": "ecr_repo_name",
    "region": "region",
    "profile": "profile",
}
_LAUNCHER_FORMS = {
    "region": (re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$"), "an AWS region such as us-east-1"),
    "profile": (re.compile(r"^[\w.+@=,:/-]{1,128}$"), "an AWS profile name"),
    "ecr_repo_name": (
        re.compile(r"^(?=.{2,256}$)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$"),
        "an ECR repository name (lower case, digits, '._-/')",
    ),
}
JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_ENV_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ROLE_NAME = re.compile(r"^[\w+=,.@/-]{1,512}$")
_PLACEHOLDER_ACCOUNT = "000000000000"
_PLACEHOLDER_ROLE = f"arn:aws:iam::{_PLACEHOLDER_ACCOUNT}:role/placeholder"


def request_shape() -> StructureShape:
    """The SDK's model of the CreateTrainingJob request (loaded once)."""
    return aws_sdk.input_shape("sagemaker", "CreateTrainingJob")


def _fold(key: str) -> str:
    return key.replace("_", "").lower()


def _structure(value: Any, shape: StructureShape, path: str) -> JsonObject:
    if not isinstance(value, dict):
        raise InvalidInput(f"must be a mapping, got {type(value).__name__}", field=path)
    by_fold = {_fold(name): name for name in shape.members}
    out: JsonObject = {}
    for key, item in value.items():
        name = key if key in shape.members else by_fold.get(_fold(str(key)))
        if name is None:
            raise InvalidInput("unknown key", field=f"{path}.{key}")
        if name in out:
            raise InvalidInput(f"given twice (also as {name!r})", field=f"{path}.{key}")
        out[name] = _normalise(item, shape.members[name], f"{path}.{name}")
    return out


def _normalise(value: Any, shape: Shape, path: str) -> Any:
    """``value`` with structure keys renamed to the model's names. Raises InvalidInput."""
    if shape.type_name == "structure":
        return _structure(value, cast("StructureShape", shape), path)
    if shape.type_name == "list":
        if not isinstance(value, list):
            raise InvalidInput(f"must be a list, got {type(value).__name__}", field=path)
        member = cast("ListShape", shape).member
        return [_normalise(item, member, f"{path}[{i}]") for i, item in enumerate(value)]
    if shape.type_name == "map":
        if not isinstance(value, dict):
            raise InvalidInput(f"must be a mapping, got {type(value).__name__}", field=path)
        of = cast("MapShape", shape).value
        return {str(k): _normalise(v, of, f"{path}.{k}") for k, v in value.items()}
    if shape.type_name == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # template variables keep their type: {{lr}} is a float, a hyperparameter text
    return value


@dataclass(frozen=True)
class Submission:
    """Where a job goes: W&B's launcher keys of ``resource_args.sagemaker`` (None: launchq's own)."""

    region: str | None = None
    profile: str | None = None
    ecr_repo_name: str | None = None

    def handle(self) -> dict[str, str]:
        """The part of the run's handle that sends later calls to the same place."""
        return {key: value for key, value in (("region", self.region), ("profile", self.profile)) if value}

    @classmethod
    def from_handle(cls, handle: dict[str, str]) -> Submission:
        return cls(region=handle.get("region") or None, profile=handle.get("profile") or None)


@dataclass
class PreparedJob:
    """A CreateTrainingJob request, where to send it, and what the run's events should say."""

    request: JsonObject
    submission: Submission
    notes: list[str]


def _without_nulls(value: Any) -> Any:
    """``value`` with every mapping key whose value is None removed, at any depth (W&B drops them)."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def split_submission(resolved: JsonObject) -> tuple[JsonObject, Submission]:
    """``resolved`` (bare, or wrapped as ``{"sagemaker": {...}}``) without nulls and without
    W&B's launcher keys, and the Submission those keys give. Raises InvalidInput."""
    wrapped = resolved.get(RESOURCE)
    if len(resolved) == 1 and isinstance(wrapped, dict):
        resolved = wrapped
    config: JsonObject = _without_nulls(copy.deepcopy(resolved))
    settings: dict[str, str] = {}
    for key in [key for key in config if key in LAUNCHER_KEYS]:
        value, name = config.pop(key), LAUNCHER_KEYS[key]
        pattern, what = _LAUNCHER_FORMS[name]
        if not isinstance(value, str) or not pattern.match(value):
            raise InvalidInput(f"must be {what}", field=f"{FIELD}.{key}")
        if name in settings:
            raise InvalidInput("given twice (as EcrRepoName and ecr_repo_name)", field=f"{FIELD}.{key}")
        settings[name] = value
    return config, Submission(**settings)


def _require(mapping: JsonObject, key: str, field: str, what: str) -> Any:
    value = mapping.get(key)
    if value is None or value == "":
        raise InvalidInput(f"required: {what}", field=field)
    return value


def _check_required(config: JsonObject) -> None:
    role = _require(config, "RoleArn", f"{FIELD}.RoleArn", "the SageMaker execution role (ARN or name)")
    if not isinstance(role, str):
        raise InvalidInput("must be a string", field=f"{FIELD}.RoleArn")
    output = _require(config, "OutputDataConfig", f"{FIELD}.OutputDataConfig", "S3OutputPath for artifacts")
    path = _require(output, "S3OutputPath", f"{FIELD}.OutputDataConfig.S3OutputPath", "an s3:// URI")
    if not isinstance(path, str) or not re.match(r"^(s3|https)://", path):
        raise InvalidInput("must be an s3:// URI", field=f"{FIELD}.OutputDataConfig.S3OutputPath")
    resources = _require(config, "ResourceConfig", f"{FIELD}.ResourceConfig", "instances and volume size")
    where = f"{FIELD}.ResourceConfig"
    _require(resources, "VolumeSizeInGB", f"{where}.VolumeSizeInGB", "the volume size in GB")
    if "InstanceGroups" not in resources:  # a heterogeneous cluster names its types per group
        _require(resources, "InstanceType", f"{where}.InstanceType", "e.g. ml.m5.xlarge")
        _require(resources, "InstanceCount", f"{where}.InstanceCount", "the number of instances")


def injected_environment(spec: RunSpec, run_id: str, queue: str, entity: str) -> dict[str, str]:
    """The variables launchq gives every job (a user's own value for any of them wins)."""
    return {
        "LAUNCHQ_RUN_ID": run_id,
        "LAUNCHQ_QUEUE": queue,
        "WANDB_LAUNCH": "True",
        "WANDB_RUN_ID": run_id,
        "WANDB_LAUNCH_QUEUE_NAME": queue,
        "WANDB_PROJECT": project_name(spec.project),
        "WANDB_ENTITY": entity,
    }


def _environment(
    config: JsonObject, spec: RunSpec, injected: dict[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The job's Environment: launchq's variables, then the config's, then the run's ``env``
    (later wins), and a note for each of launchq's values a user's value replaced."""
    given: dict[str, Any] = config.get("Environment") or {}
    entries = [(k, v, f"{FIELD}.Environment.{k}") for k, v in injected.items()]
    entries += [(k, v, f"{FIELD}.Environment.{k}") for k, v in given.items()]
    entries += [(k, v, f"env.{k}") for k, v in spec.env.items()]
    env = _checked_environment(entries)
    notes = [
        f"{key} set by "
        + ("the run's env" if key in spec.env else f"{FIELD}.Environment")
        + "; launchq's value not used"
        for key, value in injected.items()
        if env[key] != value
    ]
    return env, notes


def _checked_environment(entries: list[tuple[str, Any, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for key, value, field in entries:
        if not _ENV_NAME.match(key) or len(key) > ENV_VALUE_LIMIT:
            raise InvalidInput("SageMaker variable names are letters, digits and '_'", field=field)
        if not isinstance(value, str):
            raise InvalidInput(f"must be a string, got {type(value).__name__}", field=field)
        if len(value) > ENV_VALUE_LIMIT:
            raise InvalidInput(
                f"is {len(value)} characters; SageMaker allows at most {ENV_VALUE_LIMIT} per "
                "environment value (launchq refuses rather than splitting it): pass large "
                "values through S3 or HyperParameters",
                field=field,
            )
        env[key] = value
    if len(env) > ENV_COUNT_LIMIT:
        raise InvalidInput(
            f"{len(env)} variables (with launchq's own); SageMaker allows {ENV_COUNT_LIMIT}",
            field=f"{FIELD}.Environment",
        )
    return env


def _algorithm(config: JsonObject, spec: RunSpec) -> JsonObject:
    algo: JsonObject = dict(config.get("AlgorithmSpecification") or {})
    if not algo.get("TrainingImage") and not algo.get("AlgorithmName"):
        if not spec.docker_image:
            raise InvalidInput(
                "a SageMaker job needs an image: pass docker_image, or set "
                f'{FIELD}.AlgorithmSpecification.TrainingImage ("${{image_uri}}" for the builder\'s image)',
                field="docker_image",
            )
        algo["TrainingImage"] = spec.docker_image
    algo.setdefault("TrainingInputMode", DEFAULT_INPUT_MODE)
    if spec.entry_point:
        algo["ContainerEntrypoint"] = list(spec.entry_point)
    if spec.args:
        algo["ContainerArguments"] = list(spec.args)
    return algo


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def default_job_name(spec: RunSpec, run_id: str) -> str:
    """``<slug of the run name, or launchq>-<run id>``: a valid, per-run SageMaker job name."""
    rid = _slug(run_id)[:62] or "run"
    base = (_slug(spec.name or "") or "launchq")[: 62 - len(rid)].rstrip("-")
    return f"{base}-{rid}" if base else rid


def _job_name(config: JsonObject, spec: RunSpec, run_id: str) -> str:
    name = config.get("TrainingJobName") or default_job_name(spec, run_id)
    # A ``${run_id}`` macro is still unsubstituted at enqueue; it is checked again at submit.
    if not isinstance(name, str) or ("${" not in name and not JOB_NAME.match(name)):
        raise InvalidInput(
            "must be 1-63 letters, digits and '-', starting and ending with a letter or digit",
            field=f"{FIELD}.TrainingJobName",
        )
    return name


def _tags(config: JsonObject, run_id: str, queue: str) -> list[dict[str, str]]:
    ours = {RUN_ID_TAG: run_id, QUEUE_TAG: queue}
    tags = [tag for tag in config.get("Tags") or [] if tag.get("Key") not in ours]
    tags += [{"Key": key, "Value": value} for key, value in ours.items()]
    if len(tags) > TAG_COUNT_LIMIT:
        raise InvalidInput(
            f"SageMaker allows {TAG_COUNT_LIMIT} tags, 2 of them launchq's", field=f"{FIELD}.Tags"
        )
    return tags


def _check_image_repository(image: str, repository: str) -> None:
    """W&B's ``EcrRepoName``: the job's image must come from that ECR repository."""
    if "${" in image or image.partition("/")[0].endswith(".invalid"):
        return  # the builder's image, known only at submit (checked again then)
    where = f"{FIELD}.EcrRepoName"
    reference = image.split("@", 1)[0]
    name, _sep, tag = reference.rpartition(":")
    if "/" in tag or not name:  # the colon was a registry port, not a tag
        name = reference
    if registry_kind(name) != "ecr":
        raise InvalidInput(f"is {repository!r}, but the job's image {image!r} is not in ECR", field=where)
    found = parse_registry_uri(name, field=where).repository
    if found != repository:
        raise InvalidInput(
            f"is {repository!r}, but the job's image {image!r} is in repository {found!r}: push the "
            "image there, or change EcrRepoName",
            field=where,
        )


def build_request(
    spec: RunSpec, resolved: JsonObject, *, run_id: str, queue: str, entity: str
) -> PreparedJob:
    """The CreateTrainingJob request for a run (``RoleArn`` possibly still a bare role name),
    where to submit it, and notes for the run's events. Raises InvalidInput naming the field.
    """
    rest, submission = split_submission(resolved)
    parse_secrets(rest.pop("secrets", None), f"{FIELD}.secrets", ())  # shapes checked; none taken yet
    config: JsonObject = _normalise(rest, request_shape(), FIELD)
    _check_required(config)
    request = dict(config)
    request["TrainingJobName"] = _job_name(config, spec, run_id)
    request["AlgorithmSpecification"] = _algorithm(config, spec)
    if submission.ecr_repo_name is not None:
        image = request["AlgorithmSpecification"].get("TrainingImage")
        if isinstance(image, str):
            _check_image_repository(image, submission.ecr_repo_name)
    request.setdefault("StoppingCondition", copy.deepcopy(DEFAULT_STOPPING_CONDITION))
    env, notes = _environment(config, spec, injected_environment(spec, run_id, queue, entity))
    request["Environment"] = env
    request["Tags"] = _tags(config, run_id, queue)
    return PreparedJob(request, submission, notes)


def role_arn(role: str, account_id: str, partition: str = "aws") -> str:
    """``role`` when it is an ARN, else the ARN of the role of that name (or path/name)."""
    if role.startswith("arn:"):
        return role
    if not _ROLE_NAME.match(role):
        raise InvalidInput("is neither an IAM role ARN nor a role name", field=f"{FIELD}.RoleArn")
    return f"arn:{partition}:iam::{account_id}:role/{role.lstrip('/')}"


def _check_profile(profile: str) -> None:
    """The AWS profile must exist where launchq submits (the AWS stack has none)."""
    if profile not in aws_sdk.profiles():
        raise InvalidInput(
            f"AWS profile {profile!r} is not configured where launchq submits jobs "
            "(~/.aws/config or ~/.aws/credentials; the AWS stack's functions have no profiles)",
            field=f"{FIELD}.profile",
        )


def check_request(spec: RunSpec, resolved: JsonObject) -> None:
    """Everything ``build_request`` checks, plus the SDK's own type and length checks.

    Raises InvalidInput.
    """
    prepared = build_request(spec, resolved, run_id="0" * 16, queue="queue", entity="entity")
    if prepared.submission.profile is not None:
        _check_profile(prepared.submission.profile)
    request = prepared.request
    role = request["RoleArn"]
    # A macro in the role is substituted at submit; stand in a well-formed ARN until then.
    request["RoleArn"] = _PLACEHOLDER_ROLE if "${" in role else role_arn(role, _PLACEHOLDER_ACCOUNT)
    report = aws_sdk.validation_report(request, request_shape())
    if report is not None:
        raise InvalidInput(report, field=FIELD)
