"""The ``local-process`` target's resource args: what a queue config and a run may set
(``env``, ``inherit_env``, ``secrets``, ``grace_period_seconds``, ``workdir``), checked at
enqueue with errors that name the field. Apart from the target so that the fake target and
the config checks read it without the process machinery."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from launchq.adapters.targets.local_env import check_patterns
from launchq.adapters.targets.local_secrets import check_secrets
from launchq.domain.models import JsonObject
from launchq.validation import error_message, invalid_input

RESOURCE = "local-process"


def _check_env(env: dict[str, str]) -> dict[str, str]:
    for key, value in env.items():
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise ValueError(f"{key!r} is not a valid environment variable (name or NUL in value)")
    return env


class LocalProcessConfig(BaseModel):
    """The resolved resource args of a local-process run."""

    # Template variables keep their type (a float lr); an environment value is its text.
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables")
    inherit_env: list[str] = Field(
        default_factory=list,
        description="names or patterns (CUDA_*) of the server's environment variables the job also gets",
    )
    secrets: dict[str, Any] = Field(
        default_factory=dict,
        description="variables the job gets from the server's secrets: env:NAME or file:/path",
    )
    grace_period_seconds: float | None = Field(
        default=None, ge=0, description="SIGTERM to SIGKILL delay on stop; None = target default"
    )
    workdir: str | None = Field(default=None, description="relative subdirectory of the workspace")

    _env_names = field_validator("env")(_check_env)
    _inherit_names = field_validator("inherit_env")(check_patterns)

    @field_validator("workdir")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is None:
            return None
        path = PurePosixPath(value)
        if not value or "\0" in value or path.is_absolute() or ".." in path.parts:
            raise ValueError("must be a relative path inside the workspace, without '..'")
        return value


def parse_config(resolved: JsonObject) -> LocalProcessConfig:
    """``resolved`` as a LocalProcessConfig (also accepted wrapped as ``{"local-process": {...}}``).

    Raises InvalidInput naming the offending field, e.g. ``resource_args.local-process.foo``.
    """
    wrapped = resolved.get(RESOURCE)
    if len(resolved) == 1 and isinstance(wrapped, dict):
        resolved = wrapped
    try:
        config = LocalProcessConfig.model_validate(resolved)
    except ValidationError as exc:
        raise invalid_input(exc, f"resource_args.{RESOURCE}", message=_unknown_key) from None
    check_secrets(config.secrets)
    return config


def _unknown_key(error: ErrorDetails) -> str:
    return "unknown key" if error["type"] == "extra_forbidden" else error_message(error)
