"""Queues, runs, events and schedules: the records the store keeps and the API shows."""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from launchq.api.limits import (
    MAX_ARGS,
    MAX_ENV_ENTRIES,
    MAX_ENV_NAME_CHARS,
    MAX_REF_CHARS,
    MAX_STRING_CHARS,
    MAX_TEMPLATE_VARIABLES,
    MAX_URI_CHARS,
    json_bound_problem,
)
from launchq.domain.build_options import BuildOptions
from launchq.domain.priority import Priority, PriorityField
from launchq.domain.retry_policy import RetryPolicy
from launchq.domain.states import RunState
from launchq.domain.template_vars import Scalar, TemplateVariable
from launchq.domain.wandb_types import WandbInt
from launchq.validation import pattern_in_words

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
NAME_RULE = "1 to 63 characters: letters, digits, '_', '.' or '-', starting with a letter or digit"
Name = Annotated[str, Field(pattern=NAME_PATTERN, description=NAME_RULE), pattern_in_words(NAME_RULE)]
JsonObject = dict[str, Any]
QueueDispatch = Literal["server", "agents"]
"""Who takes a queue's runs: the control plane's own dispatcher (``server``), or only agents
pulling over HTTP (``agents``: ``launchq agent --url``, e.g. a GPU machine behind a firewall)."""
# W&B's entity (team or user) of a queue created without one, unless the deployment sets its
# own (ServiceSettings.entity, from LAUNCHQ_ENTITY on AWS); its runs' WANDB_ENTITY.
DEFAULT_ENTITY = "local"


def _within_bounds(value: JsonObject) -> JsonObject:
    """Configs and overrides are stored and copied into every run: bound their depth and size."""
    problem = json_bound_problem(value)
    if problem:
        raise ValueError(problem)
    return value


BoundedJsonObject = Annotated[JsonObject, AfterValidator(_within_bounds)]
"""A JSON object at most ``MAX_DEPTH`` deep and ``MAX_CONFIG_BYTES`` long (see ``launchq.api.limits``)."""

BoundedStr = Annotated[str, Field(max_length=MAX_STRING_CHARS)]
EnvName = Annotated[str, Field(max_length=MAX_ENV_NAME_CHARS)]


def _split_entry_point(value: Any) -> Any:
    """A string entry point is split as a POSIX shell would, without running a shell."""
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split {value!r}: {exc}") from None
    return value


EntryPoint = Annotated[list[BoundedStr], BeforeValidator(_split_entry_point), Field(max_length=MAX_ARGS)]


def _inside_source(value: str) -> str:
    """A sub-directory of the run's source (W&B's ``--build-context``): never out of it."""
    parts = value.replace("\\", "/").split("/")
    if value.startswith("/") or ".." in parts or any(ord(c) < 32 or c == "\x7f" for c in value):
        raise ValueError(f"{value!r} must be a relative path inside the source, without '..'")
    return value


SourceSubdir = Annotated[str, Field(min_length=1, max_length=MAX_REF_CHARS), AfterValidator(_inside_source)]


class QueueSettings(BaseModel):
    """What a queue is: where its runs go and how many may run at once."""

    model_config = ConfigDict(extra="forbid")

    resource: str = Field(description="target resource, e.g. local-process, kubernetes, sagemaker")
    config: BoundedJsonObject = Field(default_factory=dict, description="resource config template")
    template_variables: dict[str, TemplateVariable] = Field(
        default_factory=dict, max_length=MAX_TEMPLATE_VARIABLES
    )
    prioritization: bool = True
    max_jobs: WandbInt = Field(default=1, ge=-1, description="concurrent runs; -1 = unlimited")
    allow_overrides: bool = Field(default=True, description="runs may deep-merge resource_args")
    entity: str = DEFAULT_ENTITY
    dispatch: QueueDispatch = Field(
        default="server",
        description="server: the control plane launches the runs; agents: only agents pulling "
        "over HTTP (launchq agent --url) take them",
    )
    retry: RetryPolicy = Field(
        default_factory=RetryPolicy,
        description="launches that failed for a passing reason (target or build backend unavailable, "
        "throttled) are tried again: max_attempts in all, waiting backoff_seconds, doubling up to "
        "max_backoff_seconds",
    )

    @field_validator("max_jobs")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must be -1 (unlimited) or at least 1")
        return value


class Queue(QueueSettings):
    name: Name
    created_at: datetime
    version: int = 1

    def has_free_slot(self, active: int) -> bool:
        return self.max_jobs == -1 or active < self.max_jobs


def check_env_names(value: dict[str, str]) -> dict[str, str]:
    """Refuse a name a process environment cannot hold (a run's env, a job's)."""
    for key in value:
        if not key or "=" in key or "\0" in key:
            raise ValueError(f"{key!r} is not a valid environment variable name")
    return value


class RunSpec(BaseModel):
    """What to run: the body of ``POST /queues/{name}/runs`` (W&B's launch options)."""

    model_config = ConfigDict(extra="forbid")

    uri: str | None = Field(
        default=None, max_length=MAX_URI_CHARS, description="git URL or local directory with the code"
    )
    git_version: str | None = Field(
        default=None, max_length=MAX_REF_CHARS, description="branch, tag or commit for a git uri"
    )
    docker_image: str | None = Field(default=None, max_length=MAX_REF_CHARS)
    dockerfile: str | None = Field(
        default=None, max_length=MAX_REF_CHARS, description="Dockerfile inside the source (W&B's -D)"
    )
    build_context: SourceSubdir | None = Field(
        default=None,
        description="sub-directory of the source that images are built from (W&B's --build-context)",
    )
    entry_point: EntryPoint = Field(default_factory=list)
    args: list[BoundedStr] = Field(default_factory=list, max_length=MAX_ARGS)
    env: dict[EnvName, BoundedStr] = Field(default_factory=dict, max_length=MAX_ENV_ENTRIES)
    priority: PriorityField = Priority.MEDIUM
    template_variables: Annotated[
        dict[str, Scalar], Field(max_length=MAX_TEMPLATE_VARIABLES), AfterValidator(_within_bounds)
    ] = Field(default_factory=dict)
    resource_args: BoundedJsonObject = Field(default_factory=dict)
    name: str | None = Field(default=None, max_length=128)
    project: str | None = Field(default=None, max_length=128)
    author: str | None = Field(default=None, max_length=128)
    job: str | None = Field(
        default=None,
        max_length=MAX_REF_CHARS,
        description="launch job to run: NAME, NAME:latest or NAME:vN (its source, entry point, args, env)",
    )
    run_config: BoundedJsonObject | None = Field(
        default=None,
        description="W&B's overrides.run_config: checked against the job's input_schema, "
        "given to the job as WANDB_CONFIG (JSON)",
    )

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        return check_env_names(value)


# launchq's own build record, once kept in the target's handle (see ``Run._handle_keys_moved_out``).
_BUILD_KEYS = ("build_id", "image_uri")


class Run(BaseModel):
    """One queue item and everything known about its life."""

    id: str
    queue: str
    entity: str
    spec: RunSpec
    state: RunState = RunState.QUEUED
    priority: PriorityField = Priority.MEDIUM
    seq: int = 0
    version: int = 1
    resolved: JsonObject = Field(default_factory=dict, description="resource args after resolution")
    build: BuildOptions = Field(
        default_factory=BuildOptions, description="build options (resource_args.<r>.builder)"
    )
    build_id: str | None = Field(
        default=None, description="the builder's id of the run's image build (its log stays reachable)"
    )
    image_uri: str | None = Field(
        default=None, description="the image launchq built, or found in the registry, for the run"
    )
    handle: dict[str, str] = Field(
        default_factory=dict, description="the target's id for the job: only what the target wrote"
    )
    exit_code: int | None = None
    preemptions: int = Field(
        default=0, ge=0, description="times the target took the run away and it was requeued (its attempt)"
    )
    reason: str = ""
    idempotency_key: str | None = None
    request_hash: str | None = None
    job: str | None = Field(default=None, description="the job version the run came from: NAME:vN")
    created_at: datetime
    updated_at: datetime
    claimed_at: datetime | None = None
    lease_expires_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _handle_keys_moved_out(cls, data: Any) -> Any:
        """Migration: runs stored before ``build_id`` and ``image_uri`` were fields kept them
        in ``handle``, mixed with the target's keys. They move out here, on load, so such a
        run carries on from where it was (an asynchronous build is still followed) and its
        handle holds only what the target wrote. A value already in the field wins."""
        if not isinstance(data, dict) or not isinstance(handle := data.get("handle"), dict):
            return data
        if not any(key in handle for key in _BUILD_KEYS):
            return data
        moved = {**data, "handle": {k: v for k, v in handle.items() if k not in _BUILD_KEYS}}
        for key in _BUILD_KEYS:
            if key in handle and moved.get(key) is None:
                moved[key] = handle[key]
        return moved


class RunEvent(BaseModel):
    """One recorded transition: the answer to "why is my job not running"."""

    run_id: str
    at: datetime
    from_state: RunState | None
    to_state: RunState
    reason: str


class RunUpdate(BaseModel):
    """Fields a transition may set alongside the new state (None = leave as is)."""

    handle: dict[str, str] | None = None
    build_id: str | None = None
    image_uri: str | None = None
    resolved: JsonObject | None = None
    exit_code: int | None = None
    preemptions: int | None = None
    claimed_at: datetime | None = None
    lease_expires_at: datetime | None = None
    clear_lease: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: Clears what the last launch attempt left (start and finish times, exit code, job
    #: handle, lease): a dead-lettered run replayed starts over as if newly in line.
    new_attempt: bool = False


class ScheduleSpec(BaseModel):
    """Body of ``POST /schedules``: enqueue ``run`` onto ``queue`` at every ``cron`` tick."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    queue: Name
    cron: str = Field(max_length=256, description="five-field cron expression, UTC")
    run: RunSpec = Field(default_factory=RunSpec)


class Schedule(ScheduleSpec):
    next_fire_at: datetime
    created_at: datetime
    last_run_id: str | None = None
