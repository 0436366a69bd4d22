"""W&B's ``launch-config.yaml``: the agent settings file, with W&B's keys spelled exactly as W&B.

The file holds ``max_jobs``, ``entity``, ``queues`` (and the singular ``queue``, which W&B's
own validation wrongly rejects; here it is folded into ``queues``), ``project``,
``max_schedulers``, ``verbosity``, ``secure_mode``, ``stopped_run_timeout`` and the three
blocks ``builder``, ``registry`` and ``environment``. Each block is a union discriminated by
its ``type``, so a key that makes no sense for that type (``secret-name`` on a docker
builder) is refused instead of ignored. Hyphenated keys (``build-context-store``) are
aliases; the Python attribute names use underscores and are accepted too.

Every problem -- a missing file, malformed YAML, a non-mapping document, an unknown key,
a wrong type -- is an ``InvalidInput`` that names the key path and the file.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from launchq.config.yaml_text import describe_yaml_error, safe_yaml_load
from launchq.domain.launch_config_blocks import (
    KEY_CONFIG,
    AcrRegistry,
    AwsEnvironment,
    AzureEnvironment,
    BuildahBuilder,
    Builder,
    CodeBuildBuilder,
    DockerBuilder,
    EcrRegistry,
    Environment,
    GcpEnvironment,
    GcrRegistry,
    KanikoBuilder,
    LocalEnvironment,
    LocalRegistry,
    NoopBuilder,
    OciRegistry,
    Registry,
)
from launchq.errors import InvalidInput

CONFIG_FILE_NAME = "launch-config.yaml"
# Looked up in this order under the home directory; the first that exists wins.
DEFAULT_CONFIG_DIRS = (".config/launchq", ".config/wandb")


# --------------------------------------------------------------------------- top level

_BLOCKS = ("builder", "registry", "environment")
_BLOCK_TYPES: dict[str, dict[str, type[BaseModel]]] = {
    "builder": {
        "docker": DockerBuilder,
        "kaniko": KanikoBuilder,
        "noop": NoopBuilder,
        "buildah": BuildahBuilder,
        "codebuild": CodeBuildBuilder,
    },
    "registry": {
        "ecr": EcrRegistry,
        "gcr": GcrRegistry,
        "acr": AcrRegistry,
        "oci": OciRegistry,
        "local": LocalRegistry,
    },
    "environment": {
        "aws": AwsEnvironment,
        "gcp": GcpEnvironment,
        "azure": AzureEnvironment,
        "local": LocalEnvironment,
    },
}


class LaunchConfig(BaseModel):
    """The agent settings file (``launch-config.yaml``), W&B-compatible."""

    model_config = KEY_CONFIG

    max_jobs: StrictInt = Field(default=1, description="concurrent runs; -1 = unlimited")
    entity: str | None = None
    queues: list[str] = Field(default_factory=list, description="queues to serve")
    queue: str | None = Field(default=None, description="one queue; folded into `queues`")
    project: str | None = None
    max_schedulers: StrictInt = Field(default=1, ge=-1, description="sweep schedulers; -1 = unlimited")
    verbosity: StrictInt = Field(default=0, ge=0)
    secure_mode: StrictBool = Field(default=False, description="refuse entry point/image overrides")
    stopped_run_timeout: StrictInt = Field(default=60, ge=0, description="seconds before a hard stop")
    builder: Builder | None = None
    registry: Registry | None = None
    environment: Environment | None = None

    @model_validator(mode="before")
    @classmethod
    def _empty_blocks_are_absent(cls, data: Any) -> Any:
        """``builder: {}`` or ``registry:`` (null) mean "not configured", as in W&B."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (k in _BLOCKS and (v is None or v == {}))}
        return data

    @field_validator("max_jobs")
    @classmethod
    def _max_jobs(cls, value: int) -> int:
        if value == 0 or value < -1:
            raise ValueError("must be -1 (unlimited) or at least 1")
        return value

    @model_validator(mode="after")
    def _fold_queue(self) -> LaunchConfig:
        if self.queue is not None and self.queue not in self.queues:
            self.queues.append(self.queue)
        return self


# --------------------------------------------------------------------------- errors


def _allowed_keys(raw_loc: tuple[int | str, ...]) -> list[str]:
    """Keys accepted at the mapping where an unknown key was found (raw pydantic loc)."""
    model: type[BaseModel] | None = None
    if len(raw_loc) == 1:
        model = LaunchConfig
    elif len(raw_loc) == 3 and raw_loc[0] in _BLOCK_TYPES:
        model = _BLOCK_TYPES[str(raw_loc[0])].get(str(raw_loc[1]))
    if model is None:
        return []
    return sorted(field.alias or name for name, field in model.model_fields.items())


def _user_path(raw_loc: tuple[int | str, ...]) -> str:
    """The key path as the user wrote it: the union tag pydantic inserts is dropped."""
    parts: list[str] = []
    for index, part in enumerate(raw_loc):
        if index == 1 and part in _BLOCK_TYPES.get(str(raw_loc[0]), {}):
            continue  # e.g. ("builder", "kaniko", "secret-name"): "kaniko" is the tag, not a key
        parts.append(f"[{part}]" if isinstance(part, int) else ("." if parts else "") + str(part))
    return "".join(parts)


def _describe(error: ErrorDetails, data: object) -> tuple[str, str]:
    raw_loc = tuple(error["loc"])
    path = _user_path(raw_loc) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(raw_loc)
        key = str(raw_loc[-1])
        hint = difflib.get_close_matches(key, allowed, n=1)
        message = "unknown key" + (f" (did you mean '{hint[0]}'?)" if hint else "")
        return path, message + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        block = str(raw_loc[0]) if raw_loc else ""
        tags = ", ".join(_BLOCK_TYPES.get(block, {}))
        given = data.get(block) if isinstance(data, dict) else None
        value = given.get("type") if isinstance(given, dict) else None
        what = "is required" if value is None else f"{value!r} is not supported"
        return f"{path}.type", f"{what}; one of: {tags}"
    if kind == "missing":
        return path, "is required"
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    if not isinstance(value, dict | list) and not kind.startswith("value_error"):
        message += f", got {value!r}"
    return path, message


def _invalid(exc: ValidationError, data: object, source: str) -> InvalidInput:
    described = [_describe(error, data) for error in exc.errors()]
    path, message = described[0]
    detail = f"{message} (in {source})"
    if len(described) > 1:
        rest = "; ".join(f"{p}: {m}" for p, m in described[1:])
        detail += f"; also {rest}"
    return InvalidInput(detail, field=path)


# --------------------------------------------------------------------------- parsing and loading


def parse_launch_config(text: str, source: str) -> LaunchConfig:
    """Parse the text of a launch config; ``source`` names it in errors (a path, "values.yaml")."""
    try:
        data = safe_yaml_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{describe_yaml_error(exc)} (in {source})") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput(
            f"must be a mapping of launch-config keys, got a {type(data).__name__} (in {source})"
        )
    try:
        return LaunchConfig.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, data, source) from None


def _expand_home(path: Path) -> Path:
    if path.parts and path.parts[0] == "~":
        return Path.home().joinpath(*path.parts[1:])
    return path


def default_config_paths() -> list[Path]:
    """Where the config is looked up when no path is given, first match wins."""
    home = Path.home()
    return [home / directory / CONFIG_FILE_NAME for directory in DEFAULT_CONFIG_DIRS]


def load_launch_config(path: Path | None = None) -> tuple[LaunchConfig, Path | None]:
    """Load the launch config and say which file it came from.

    An explicit ``path`` must exist. Without one, ``~/.config/launchq/launch-config.yaml``
    is used, else ``~/.config/wandb/launch-config.yaml``, else the defaults (and ``None``).
    """
    if path is not None:
        chosen = _expand_home(path)
        if not chosen.is_file():
            raise InvalidInput(f"launch config file {chosen} does not exist or is not a file")
    else:
        found = [candidate for candidate in default_config_paths() if candidate.is_file()]
        if not found:
            return LaunchConfig(), None
        chosen = found[0]
    try:
        text = chosen.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read launch config file {chosen}: {exc}") from exc
    return parse_launch_config(text, str(chosen)), chosen
