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

W&B users' files keep working where W&B reads them leniently: integer keys may be numeric
strings (``max_jobs: "5"``, as W&B's ``int()`` reads them); a ``registry`` with a ``uri``
and no ``type`` takes its type from the URI's host (ECR, Artifact Registry, ACR);
``builder.destination`` is where built images go and replaces ``registry`` (as in W&B,
where it wins over the registry block), and ``builder.platform`` is the default build
platform. A ``noop`` builder builds nothing, so a destination or platform on it is refused
rather than ignored.
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
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from launchq.adapters.registries.uri import parse_registry_uri, registry_kind
from launchq.config.yaml_text import describe_yaml_error, safe_yaml_load
from launchq.domain.launch_config_blocks import (
    KEY_CONFIG,
    AcrRegistryConfig,
    AwsEnvironmentConfig,
    AzureEnvironmentConfig,
    BuildahBuilderConfig,
    BuilderConfig,
    CodeBuildBuilderConfig,
    DockerBuilderConfig,
    EcrRegistryConfig,
    EnvironmentConfig,
    GcpEnvironmentConfig,
    GcrRegistryConfig,
    KanikoBuilderConfig,
    LocalEnvironmentConfig,
    LocalRegistryConfig,
    NoopBuilderConfig,
    OciRegistryConfig,
    RegistryConfig,
)
from launchq.domain.wandb_types import WandbInt
from launchq.errors import InvalidInput
from launchq.validation import error_message, problems

CONFIG_FILE_NAME = "launch-config.yaml"
# Looked up in this order under the home directory; the first that exists wins.
DEFAULT_CONFIG_DIRS = (".config/launchq", ".config/wandb")


# --------------------------------------------------------------------------- top level

_BLOCKS = ("builder", "registry", "environment")
_BLOCK_TYPES: dict[str, dict[str, type[BaseModel]]] = {
    "builder": {
        "docker": DockerBuilderConfig,
        "kaniko": KanikoBuilderConfig,
        "noop": NoopBuilderConfig,
        "buildah": BuildahBuilderConfig,
        "codebuild": CodeBuildBuilderConfig,
    },
    "registry": {
        "ecr": EcrRegistryConfig,
        "gcr": GcrRegistryConfig,
        "acr": AcrRegistryConfig,
        "oci": OciRegistryConfig,
        "local": LocalRegistryConfig,
    },
    "environment": {
        "aws": AwsEnvironmentConfig,
        "gcp": GcpEnvironmentConfig,
        "azure": AzureEnvironmentConfig,
        "local": LocalEnvironmentConfig,
    },
}


def _infer_registry_type(block: Any) -> Any:
    """W&B's ``registry: {uri: ...}`` without ``type``: the type the URI's host names.

    A URI that names no known cloud keeps the block untyped, so the error asks for
    ``registry.type`` (see ``_describe``).
    """
    if isinstance(block, dict) and "type" not in block and isinstance(block.get("uri"), str):
        kind = registry_kind(block["uri"])
        if kind is not None:
            return {"type": kind, **block}
    return block


def _registry_for_destination(destination: str) -> RegistryConfig:
    """The ``registry`` block ``builder.destination`` stands for (any other host is ``oci``,
    as W&B's anonymous registry). Raises InvalidInput for a tag or a malformed URI."""
    kind = parse_registry_uri(destination, field="builder.destination").kind
    model = _BLOCK_TYPES["registry"][kind]
    block: RegistryConfig = model.model_validate({"type": kind, "uri": destination})  # type: ignore[assignment]
    return block


class LaunchConfig(BaseModel):
    """The agent settings file (``launch-config.yaml``), W&B-compatible."""

    model_config = KEY_CONFIG

    max_jobs: WandbInt = Field(default=1, description="concurrent runs; -1 = unlimited")
    entity: str | None = None
    queues: list[str] = Field(default_factory=list, description="queues to serve")
    queue: str | None = Field(default=None, description="one queue; folded into `queues`")
    project: str | None = None
    max_schedulers: WandbInt = Field(default=1, ge=-1, description="sweep schedulers; -1 = unlimited")
    verbosity: WandbInt = Field(default=0, ge=0)
    secure_mode: StrictBool = Field(default=False, description="refuse entry point/image overrides")
    stopped_run_timeout: WandbInt = Field(default=60, ge=0, description="seconds before a hard stop")
    builder: BuilderConfig | None = None
    registry: RegistryConfig | None = None
    environment: EnvironmentConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _wandb_shapes(cls, data: Any) -> Any:
        """``builder: {}`` or ``registry:`` (null) mean "not configured", as in W&B; a
        registry's missing ``type`` comes from its URI."""
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if not (k in _BLOCKS and (v is None or v == {}))}
        if "registry" in data:
            data["registry"] = _infer_registry_type(data["registry"])
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

    @model_validator(mode="after")
    def _destination_is_the_registry(self) -> LaunchConfig:
        """``builder.destination`` replaces ``registry``; both naming different places is refused.

        Raises InvalidInput (not a ValueError, so pydantic lets it through with its field).
        """
        builder = self.builder
        if isinstance(builder, NoopBuilderConfig):
            for key in ("destination", "platform"):
                if getattr(builder, key) is not None:
                    raise InvalidInput(
                        "the noop builder never builds, so it has no use for this: remove it, "
                        "or choose a builder (docker, buildah)",
                        field=f"builder.{key}",
                    )
        if builder is None or builder.destination is None:
            return self
        wanted = _registry_for_destination(builder.destination)
        if self.registry is not None and _registry_uri(self.registry) != _registry_uri(wanted):
            raise InvalidInput(
                f"{builder.destination!r} and `registry` ({_registry_uri(self.registry) or 'no uri'}) "
                "both say where built images go, and they differ (W&B lets the destination win "
                "with a warning; launchq refuses): remove `registry` or give it the same uri",
                field="builder.destination",
            )
        if self.registry is None:
            self.registry = wanted
        return self


def _registry_uri(block: RegistryConfig) -> str | None:
    uri = getattr(block, "uri", None)
    if not isinstance(uri, str):
        return None
    return uri.removeprefix("https://").rstrip("/")


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


def _type_problem(block: str, given: object) -> str:
    """Why a block's ``type`` is refused; an untyped registry says its URI told nothing."""
    value = given.get("type") if isinstance(given, dict) else None
    if value is not None:
        return f"{value!r} is not supported"
    uri = given.get("uri") if isinstance(given, dict) and block == "registry" else None
    if isinstance(uri, str):
        return (
            f"is required: {uri!r} is not an ECR, Artifact Registry or ACR address, so the type "
            "cannot be told from it (`oci` for any other registry)"
        )
    return "is required"


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
        return f"{path}.type", f"{_type_problem(block, given)}; one of: {tags}"
    if kind == "missing":
        return path, "is required"
    message = error_message(error)
    value = error.get("input")
    if not isinstance(value, dict | list) and not kind.startswith("value_error"):
        message += f", got {value!r}"
    return path, message


def _invalid(exc: ValidationError, data: object, source: str) -> InvalidInput:
    described = problems(exc, describe=lambda error: _describe(error, data))
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
    except InvalidInput as exc:  # a check across blocks (builder.destination and registry)
        raise InvalidInput(f"{exc.detail} (in {source})", field=exc.field) from None


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
