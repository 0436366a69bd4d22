"""W&B-compatible ``resource_args.vertex``, turned into a Vertex AI ``CustomJob``.

Users write the config as W&B's Vertex AI docs do: ``spec`` holds what W&B passes to
``aiplatform.CustomJob`` (``worker_pool_specs``, ``staging_bucket``, ``base_output_dir``,
``encryption_spec_key_name``, ``labels``) and ``run`` what it passes to ``CustomJob.submit``
(``timeout``, ``service_account``, ``network``, ``restart_job_on_worker_restart``,
``enable_web_access``, ``tensorboard``, ...). The config is read by pydantic models that
forbid unknown keys, so a typo is an error naming ``resource_args.vertex.<path>``, and
the result is a plain ``CustomJob`` mapping for ``aiplatform_v1.JobServiceClient``.

Choices, where W&B differs or is silent:

- A container without ``image_uri`` runs the run's image (``docker_image``, or the one
  launchq built: ``${image_uri}`` says the same explicitly). None at all is refused,
  naming ``docker_image``.
- The run's entry point becomes every container's ``command`` and its args their
  ``args`` (W&B puts both in ``command``); a run without them keeps the config's.
- ``LAUNCHQ_*``/``WANDB_*`` variables are added to every container's ``env``; a user's
  own value wins (the config's, then the run's ``env``), and the run's events say so.
- Output: ``base_output_dir`` if given, else ``<staging_bucket>/launchq/<run id>`` (the
  aiplatform SDK makes a timestamped directory instead; a run-derived one makes a
  retried submit send the very same request). ``staging_bucket`` falls back to the
  target's own (``VertexTarget(staging_bucket=...)``); neither is refused.
- ``run.sync`` is accepted and ignored: launchq never waits for a job in the submit call.
  ``run.experiment`` / ``run.experiment_run`` (Vertex AI Experiments) are refused, naming
  the key: the aiplatform SDK resolves them through the Metadata API, which launchq does
  not call; W&B tracks the run anyway.
- The job's ``display_name`` is ``<run name or launchq>-<run id>[-a<attempt>]`` and its labels
  carry ``launchq-run-id``, ``launchq-attempt`` and ``launchq-queue``: how a retried submit
  finds and adopts the job an earlier one created (Vertex AI picks job ids itself).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator
from pydantic_core import ErrorDetails

from launchq.adapters.targets.sagemaker_config import injected_environment
from launchq.domain.models import JsonObject, RunSpec
from launchq.errors import InvalidInput
from launchq.validation import error_message, invalid_input

__all__ = [
    "ATTEMPT_LABEL",
    "FIELD",
    "QUEUE_LABEL",
    "RESOURCE",
    "RUN_ID_LABEL",
    "PreparedJob",
    "VertexConfig",
    "build_job",
    "check_with_sdk",
    "display_name",
    "label_value",
    "parse_config",
]

RESOURCE = "vertex"
FIELD = f"resource_args.{RESOURCE}"
RUN_ID_LABEL = "launchq-run-id"
ATTEMPT_LABEL = "launchq-attempt"
QUEUE_LABEL = "launchq-queue"
LABEL_LIMIT = 64
DISPLAY_NAME_LIMIT = 128
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NOT_LABEL = re.compile(r"[^a-z0-9_-]+")
_FILTER_SPECIAL = re.compile(r'["\\]')

Text = Annotated[str, StringConstraints(min_length=1)]
GcsUri = Annotated[str, StringConstraints(pattern=r"^gs://[^/\s]+(/\S*)?$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnvVar(_Strict):
    name: Text
    value: str = ""


class ContainerSpec(_Strict):
    image_uri: Text | None = None
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    env: list[EnvVar] = Field(default_factory=list)

    @field_validator("env", mode="before")
    @classmethod
    def _mapping_as_list(cls, value: Any) -> Any:
        """``env`` as Vertex AI spells it (a list of ``{name, value}``) or as a mapping."""
        if isinstance(value, dict):
            return [{"name": name, "value": item} for name, item in value.items()]
        return value


class MachineSpec(_Strict):
    machine_type: Text
    accelerator_type: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$")] | None = None
    accelerator_count: int = Field(default=0, ge=0)
    tpu_topology: Text | None = None


class DiskSpec(_Strict):
    boot_disk_type: Text | None = None
    boot_disk_size_gb: int | None = Field(default=None, gt=0)


class NfsMount(_Strict):
    server: Text
    path: Text
    mount_point: Text


class WorkerPoolSpec(_Strict):
    machine_spec: MachineSpec
    replica_count: int = Field(default=1, ge=1)
    container_spec: ContainerSpec
    disk_spec: DiskSpec | None = None
    nfs_mounts: list[NfsMount] | None = None


class JobSpec(_Strict):
    """W&B's ``spec``: what it passes to ``aiplatform.CustomJob``."""

    worker_pool_specs: list[WorkerPoolSpec] = Field(min_length=1)
    staging_bucket: GcsUri | None = None
    base_output_dir: GcsUri | None = None
    encryption_spec_key_name: Text | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _label_form(cls, labels: dict[str, str]) -> dict[str, str]:
        for key, value in labels.items():
            if "${" in key + value:
                continue  # a macro (``${run_id}``): checked again once substituted, at submit
            if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
                raise ValueError(
                    f"label {key!r}: keys are 1-63 lower-case letters, digits, '_' or '-' starting "
                    "with a letter; values at most 63 of the same"
                )
        return labels


class RunArgs(_Strict):
    """W&B's ``run``: what it passes to ``CustomJob.submit`` (``sync`` accepted and ignored)."""

    timeout: int | None = Field(default=None, gt=0, description="seconds")
    service_account: Text | None = None
    network: Text | None = None
    reserved_ip_ranges: list[Text] | None = None
    enable_web_access: bool = False
    enable_dashboard_access: bool = False
    tensorboard: Text | None = None
    restart_job_on_worker_restart: bool = False
    disable_retries: bool = False
    max_wait_duration: int | None = Field(default=None, gt=0, description="seconds")
    scheduling_strategy: Literal["ON_DEMAND", "LOW_COST", "STANDARD", "SPOT", "FLEX_START"] | None = None
    persistent_resource_id: Text | None = None
    create_request_timeout: float | None = Field(default=None, gt=0)
    sync: bool = False

    @field_validator("timeout", "max_wait_duration", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        """Seconds, as the aiplatform SDK takes them, or a protobuf duration text (``"3600s"``)."""
        if isinstance(value, str) and re.fullmatch(r"\d+s", value.strip()):
            return int(value.strip()[:-1])
        return value


class VertexConfig(_Strict):
    """``resource_args.vertex`` (bare, or wrapped as ``{"vertex": {...}}``)."""

    spec: JobSpec
    run: RunArgs = Field(default_factory=RunArgs)


_UNSUPPORTED = {
    "experiment": "Vertex AI Experiments are not supported (launchq does not call the Metadata API)",
    "experiment_run": "Vertex AI Experiments are not supported (launchq does not call the Metadata API)",
    "python_package_spec": "launchq runs containers: give container_spec (an image) instead",
}


def _message(error: ErrorDetails) -> str:
    last = str(error["loc"][-1]) if error["loc"] else ""
    if error["type"] == "extra_forbidden":
        return f"unknown key; {_UNSUPPORTED[last]}" if last in _UNSUPPORTED else "unknown key"
    return error_message(error)


def parse_config(resolved: JsonObject) -> VertexConfig:
    """The run's resolved resource args as a VertexConfig. Raises InvalidInput naming the field.

    Wrapped as ``{"vertex": {...}}`` or, as W&B still reads it for old queues, ``{"gcp-vertex": {...}}``.
    """
    (only,) = resolved if len(resolved) == 1 else (None,)
    if only in (RESOURCE, "gcp-vertex") and isinstance(resolved[only], dict):
        resolved = resolved[only]
    try:
        return VertexConfig.model_validate(resolved)
    except ValidationError as exc:
        raise invalid_input(exc, FIELD, message=_message) from None


def display_name(spec: RunSpec, run_id: str, attempt: int) -> str:
    """``<run name or launchq>-<run id>[-a<attempt>]``, within Vertex AI's 128 characters."""
    tail = f"-{run_id}" + (f"-a{attempt}" if attempt else "")
    # No quote or backslash: the name is looked up in a ListCustomJobs filter string.
    base = _FILTER_SPECIAL.sub("", spec.name or "") or "launchq"
    return base[: DISPLAY_NAME_LIMIT - len(tail)] + tail


def label_value(text: str) -> str:
    """``text`` as a GCP label value: lower case, other characters as '-', at most 63."""
    return _NOT_LABEL.sub("-", text.lower())[:63]


@dataclass
class PreparedJob:
    """A CustomJob mapping for ``create_custom_job``, and what the run's events should say."""

    job: JsonObject
    notes: list[str] = field(default_factory=list)
    request_timeout: float | None = None  # ``run.create_request_timeout``


def _environment(
    given: list[EnvVar], spec: RunSpec, injected: dict[str, str], where: str
) -> tuple[list[JsonObject], list[str]]:
    """launchq's variables, then the container's, then the run's ``env`` (later wins)."""
    env: dict[str, str] = dict(injected)
    for var in given:
        if not _ENV_NAME.match(var.name):
            raise InvalidInput("variable names are letters, digits and '_'", field=f"{where}.env.{var.name}")
        env[var.name] = var.value
    for name, value in spec.env.items():
        env[name] = value
    notes = [
        f"{name} set by "
        + ("the run's env" if name in spec.env else f"{where}.env")
        + "; launchq's value not used"
        for name, value in injected.items()
        if env[name] != value
    ]
    return [{"name": name, "value": value} for name, value in env.items()], notes


def _container(
    container: ContainerSpec, spec: RunSpec, injected: dict[str, str], where: str
) -> tuple[JsonObject, list[str]]:
    image = container.image_uri or spec.docker_image
    if not image:
        raise InvalidInput(
            "a Vertex AI job needs an image: pass docker_image, or set "
            f'{where}.image_uri ("${{image_uri}}" for the builder\'s image)',
            field="docker_image",
        )
    env, notes = _environment(container.env, spec, injected, where)
    out: JsonObject = {"image_uri": image, "env": env}
    command = list(spec.entry_point) or container.command
    args = list(spec.args) or container.args
    if command:
        out["command"] = command
    if args:
        out["args"] = args
    return out, notes


def _pools(
    config: VertexConfig, spec: RunSpec, injected: dict[str, str]
) -> tuple[list[JsonObject], list[str]]:
    pools: list[JsonObject] = []
    notes: list[str] = []
    for index, pool in enumerate(config.spec.worker_pool_specs):
        where = f"{FIELD}.spec.worker_pool_specs[{index}].container_spec"
        container, said = _container(pool.container_spec, spec, injected, where)
        notes += [note for note in said if note not in notes]
        body = pool.model_dump(exclude_none=True, exclude={"container_spec"})
        pools.append(body | {"container_spec": container})
    return pools, notes


def _output_dir(config: VertexConfig, run_id: str, staging_bucket: str | None) -> str:
    if config.spec.base_output_dir:
        return config.spec.base_output_dir
    bucket = config.spec.staging_bucket or staging_bucket
    if not bucket:
        raise InvalidInput(
            "required: a gs:// bucket for Vertex AI's output (or set spec.base_output_dir)",
            field=f"{FIELD}.spec.staging_bucket",
        )
    return f"{bucket.rstrip('/')}/launchq/{run_id}"


def _scheduling(run: RunArgs) -> JsonObject:
    scheduling: JsonObject = {
        "restart_job_on_worker_restart": run.restart_job_on_worker_restart,
        "disable_retries": run.disable_retries,
    }
    if run.timeout is not None:
        scheduling["timeout"] = {"seconds": run.timeout}
    if run.max_wait_duration is not None:
        scheduling["max_wait_duration"] = {"seconds": run.max_wait_duration}
    if run.scheduling_strategy is not None:
        scheduling["strategy"] = run.scheduling_strategy
    return scheduling


def _job_spec(config: VertexConfig, pools: list[JsonObject], output_dir: str) -> JsonObject:
    run = config.run
    job_spec: JsonObject = {
        "worker_pool_specs": pools,
        "base_output_directory": {"output_uri_prefix": output_dir},
        "scheduling": _scheduling(run),
        "enable_web_access": run.enable_web_access,
        "enable_dashboard_access": run.enable_dashboard_access,
    }
    optional = {
        "service_account": run.service_account,
        "network": run.network,
        "reserved_ip_ranges": run.reserved_ip_ranges,
        "tensorboard": run.tensorboard,
        "persistent_resource_id": run.persistent_resource_id,
    }
    job_spec.update({key: value for key, value in optional.items() if value is not None})
    return job_spec


def _labels(config: VertexConfig, run_id: str, queue: str, attempt: int) -> dict[str, str]:
    ours = {RUN_ID_LABEL: label_value(run_id), ATTEMPT_LABEL: str(attempt), QUEUE_LABEL: label_value(queue)}
    labels = {key: value for key, value in config.spec.labels.items() if key not in ours} | ours
    if len(labels) > LABEL_LIMIT:
        raise InvalidInput(
            f"Vertex AI allows {LABEL_LIMIT} labels, {len(ours)} of them launchq's",
            field=f"{FIELD}.spec.labels",
        )
    return labels


def build_job(
    spec: RunSpec,
    resolved: JsonObject,
    *,
    run_id: str,
    queue: str,
    entity: str,
    attempt: int = 0,
    staging_bucket: str | None = None,
) -> PreparedJob:
    """The CustomJob for a run and the notes for its events. Raises InvalidInput naming the field."""
    config = parse_config(copy.deepcopy(resolved))
    injected = injected_environment(spec, run_id, queue, entity)
    pools, notes = _pools(config, spec, injected)
    job: JsonObject = {
        "display_name": display_name(spec, run_id, attempt),
        "labels": _labels(config, run_id, queue, attempt),
        "job_spec": _job_spec(config, pools, _output_dir(config, run_id, staging_bucket)),
    }
    if config.spec.encryption_spec_key_name:
        job["encryption_spec"] = {"kms_key_name": config.spec.encryption_spec_key_name}
    return PreparedJob(job, notes, config.run.create_request_timeout)


def check_with_sdk(job: JsonObject) -> None:
    """Build the SDK's ``CustomJob`` from ``job``: an accelerator type Vertex AI does not know
    is refused naming its field. Raises InvalidInput, BackendUnavailable (no SDK)."""
    from launchq.gcp.errors import import_sdk

    aiplatform = import_sdk("google.cloud.aiplatform_v1", "google-cloud-aiplatform")
    known = aiplatform.AcceleratorType.__members__
    for index, pool in enumerate(job["job_spec"]["worker_pool_specs"]):
        accelerator = pool["machine_spec"].get("accelerator_type")
        if accelerator is not None and accelerator not in known:
            raise InvalidInput(
                f"{accelerator!r} is not a Vertex AI accelerator type "
                "(e.g. NVIDIA_TESLA_T4, NVIDIA_L4, TPU_V5_LITEPOD)",
                field=f"{FIELD}.spec.worker_pool_specs[{index}].machine_spec.accelerator_type",
            )
    try:
        aiplatform.CustomJob(job)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"Vertex AI's CustomJob model refuses it: {exc}", field=FIELD) from None
