"""Turning flags and local files into request bodies, refusing bad input before anything is sent.

Every mistake raises ``CliError`` (exit status 2) with one line that names the option.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launchq.cli.errors import CliError
from launchq.errors import InvalidInput

if TYPE_CHECKING:  # the loaders below bring pydantic and yaml: imported when used (CLI start)
    from launchq.config.templates import Syntax

JsonObject = dict[str, Any]
Scalar = str | int | float

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_FILE_SUFFIXES = (".json", ".yaml", ".yml")

LAUNCH_CONFIG_KEYS = (
    "author",
    "docker",
    "entity",
    "env",
    "git",
    "name",
    "overrides",
    "priority",
    "project",
    "resource",
    "resource_args",
    "template_variables",
    "uri",
)
OVERRIDE_KEYS = ("args", "entry_point", "run_config")
CONFIG_OPTION = "-c/--config"


# -- JSON / YAML objects ------------------------------------------------------------------
def _looks_like_path(value: str) -> bool:
    if "\n" in value or value.lstrip().startswith(("{", "[")):
        return False
    return value.lower().endswith(_FILE_SUFFIXES) or Path(value).expanduser().is_file()


def load_object(option: str, value: str) -> JsonObject:
    """Read ``value`` as a path to a .json/.yaml/.yml file or as inline JSON/YAML; it must be an object.

    The text goes through the server's own loader (``parse_config_text``): duplicate keys,
    YAML alias bombs and documents past the documented bounds are refused here exactly as
    the server would refuse them. A file's suffix says its syntax (``.json`` is JSON, any
    other YAML); inline text starting with ``{`` or ``[`` is JSON, anything else YAML.
    """
    source, text = "", value
    syntax: Syntax = "auto"
    if _looks_like_path(value):
        path = Path(value).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise CliError(f"{option}: cannot read {str(path)!r}: {reason}") from None
        source = f" (in {str(path)!r})"
        syntax = "json" if path.suffix.lower() == ".json" else "yaml"
    from launchq.config.templates import parse_config_text

    try:
        return parse_config_text(text, field=option, syntax=syntax)
    except InvalidInput as exc:
        detail = " ".join(exc.detail.split())
        raise CliError(f"{option}: {detail}{source}") from None


# -- KEY=VALUE flags ----------------------------------------------------------------------
def split_assignment(option: str, item: str) -> tuple[str, str]:
    """``key=value`` → ``(key, value)``; the value may itself contain ``=``."""
    key, sep, value = item.partition("=")
    if not sep:
        raise CliError(f"{option}: expected KEY=VALUE, got {item!r}")
    if not key.strip():
        raise CliError(f"{option}: missing the name before '=' in {item!r}")
    return key.strip(), value


def typed_scalar(value: str) -> Scalar:
    """``"8"`` → 8, ``"0.5"`` → 0.5, anything else stays a string (as W&B's ``--set-var`` does)."""
    text = value.strip()
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return value


def parse_set_vars(items: Iterable[str], option: str = "-v/--set-var") -> dict[str, Scalar]:
    """Template variable values from repeated ``key=value`` flags; numbers become numbers."""
    return {key: typed_scalar(value) for key, value in (split_assignment(option, i) for i in items)}


def parse_env(items: Iterable[str], option: str = "--env") -> dict[str, str]:
    """Environment variables from repeated ``KEY=VALUE`` flags; values stay strings."""
    return dict(split_assignment(option, item) for item in items)


PRIORITY_LABELS = ("critical", "high", "medium", "low")
"""``launchq.domain.priority.Priority``'s labels by number (a unit test keeps them equal), so that
the usual ``-P high`` or ``-P 1`` is read without importing it: it brings pydantic."""


def priority_label(value: object, option: str = "priority") -> str:
    """``critical|high|medium|low`` (any case) or ``0..3`` → the label the API takes; anything
    else is worded by ``launchq.domain.priority``."""
    text = value.strip() if isinstance(value, str) else None
    if text is not None and text.lower() in PRIORITY_LABELS:
        return text.lower()
    if text is not None and text in ("0", "1", "2", "3"):
        return PRIORITY_LABELS[int(text)]
    from launchq.domain.priority import parse_priority

    try:
        return parse_priority(value).label
    except ValueError as exc:
        raise CliError(f"{option}: {exc}") from None


def split_entry_point(option: str, value: str) -> list[str]:
    """``"python train.py --x"`` → ``["python", "train.py", "--x"]``, as a POSIX shell splits."""
    try:
        return shlex.split(value)
    except ValueError as exc:
        raise CliError(f"{option}: cannot split {value!r}: {exc}") from None


# -- W&B launch config (-c) -----------------------------------------------------------------
def _check_keys(where: str, data: JsonObject, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise CliError(f"{where}: {unknown[0]!r} is not supported by launchq; use {', '.join(allowed)}")


def _section(where: str, data: JsonObject, key: str) -> JsonObject:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CliError(f"{where}: {key} must be an object, got {type(value).__name__}")
    return value


def _string(where: str, value: object) -> str:
    if not isinstance(value, str):
        raise CliError(f"{where} must be a string, got {value!r}")
    return value


def _strings(where: str, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CliError(f"{where} must be a list of strings, got {value!r}")
    return list(value)


def _config_sources(config: JsonObject) -> JsonObject:
    """``uri``, ``git.version``, ``docker.docker_image`` and the naming keys."""
    body: JsonObject = {}
    for key in ("uri", "name", "project", "author"):
        if config.get(key) is not None:
            body[key] = _string(f"{CONFIG_OPTION}: {key}", config[key])
    git = _section(CONFIG_OPTION, config, "git")
    _check_keys(f"{CONFIG_OPTION}: git", git, ("version",))
    if git.get("version") is not None:
        body["git_version"] = _string(f"{CONFIG_OPTION}: git.version", git["version"])
    docker = _section(CONFIG_OPTION, config, "docker")
    _check_keys(f"{CONFIG_OPTION}: docker", docker, ("docker_image",))
    if docker.get("docker_image") is not None:
        body["docker_image"] = _string(f"{CONFIG_OPTION}: docker.docker_image", docker["docker_image"])
    return body


def _config_overrides(config: JsonObject) -> JsonObject:
    """``overrides.{args, entry_point, run_config}`` and ``env``.

    ``run_config`` is sent as the run's ``run_config``: the server checks it against a job's
    input schema and hands it to the job as ``WANDB_CONFIG``, the variable W&B's agent sets.
    """
    body: JsonObject = {}
    overrides = _section(CONFIG_OPTION, config, "overrides")
    _check_keys(f"{CONFIG_OPTION}: overrides", overrides, OVERRIDE_KEYS)
    if overrides.get("args") is not None:
        body["args"] = _strings(f"{CONFIG_OPTION}: overrides.args", overrides["args"])
    entry_point = overrides.get("entry_point")
    if isinstance(entry_point, str):
        body["entry_point"] = split_entry_point(f"{CONFIG_OPTION}: overrides.entry_point", entry_point)
    elif entry_point is not None:
        body["entry_point"] = _strings(f"{CONFIG_OPTION}: overrides.entry_point", entry_point)
    env = {str(k): str(v) for k, v in _section(CONFIG_OPTION, config, "env").items()}
    if overrides.get("run_config") is not None:
        body["run_config"] = _section(f"{CONFIG_OPTION}: overrides", overrides, "run_config")
    if env:
        body["env"] = env
    return body


def _config_queue_fields(config: JsonObject) -> JsonObject:
    """``resource_args``, ``template_variables`` and ``priority``."""
    body: JsonObject = {}
    if config.get("resource_args"):
        body["resource_args"] = _section(CONFIG_OPTION, config, "resource_args")
    values = _section(CONFIG_OPTION, config, "template_variables")
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise CliError(f"{CONFIG_OPTION}: template_variables.{key} must be a string or number")
    if values:
        body["template_variables"] = values
    if config.get("priority") is not None:
        body["priority"] = priority_label(config["priority"], f"{CONFIG_OPTION}: priority")
    return body


def body_from_launch_config(config: JsonObject) -> tuple[JsonObject, str | None, str | None]:
    """Map a W&B launch config (``wandb launch -c``) onto a run body; also return its ``entity``
    and ``resource`` (both checked against the queue, which alone decides them in launchq)."""
    _check_keys(CONFIG_OPTION, config, LAUNCH_CONFIG_KEYS)
    body = {**_config_sources(config), **_config_overrides(config), **_config_queue_fields(config)}
    entity, resource = (config.get(key) for key in ("entity", "resource"))
    return (
        body,
        None if entity is None else _string(f"{CONFIG_OPTION}: entity", entity),
        None if resource is None else _string(f"{CONFIG_OPTION}: resource", resource),
    )


# -- launch / schedule flags ----------------------------------------------------------------
@dataclass
class RunFlags:
    """The run flags ``launch`` and ``schedule create`` share, as typed on the command line."""

    uri: str | None = None
    git_version: str | None = None
    docker_image: str | None = None
    entry_point: str | None = None
    args: list[str] = field(default_factory=list)
    priority: str | None = None
    config: str | None = None
    resource_args: str | None = None
    set_vars: list[str] = field(default_factory=list)
    name: str | None = None
    project: str | None = None
    entity: str | None = None
    env: list[str] = field(default_factory=list)
    job: str | None = None
    dockerfile: str | None = None
    base_image: str | None = None
    build_context: str | None = None
    resource: str | None = None


@dataclass(frozen=True)
class RunRequest:
    """The body of ``POST /queues/{q}/runs``, and what the user expects of the queue: its
    entity and resource (``-e``, ``-r``: checked), and a base image for its builder (``-B``)."""

    body: JsonObject
    entity: str | None
    resource: str | None = None
    base_image: str | None = None

    def for_queue(self, name: str, get_queue: Callable[[str], JsonObject]) -> JsonObject:
        """The body to send to queue ``name``, read with ``get_queue`` only when a check needs it.

        W&B's ``-r`` picks the resource; in launchq the queue does, so one that differs is an
        error rather than a run somewhere unexpected. ``-B`` goes where the API takes build
        options: ``resource_args.<the queue's resource>.builder.base_image``.
        """
        if self.entity is None and self.resource is None and self.base_image is None:
            return self.body
        queue = get_queue(name)
        owner, resource = queue.get("entity"), str(queue.get("resource"))
        if self.entity is not None and owner != self.entity:
            raise CliError(f"entity: queue {name!r} belongs to entity {owner!r}, not {self.entity!r}")
        if self.resource is not None and resource != self.resource:
            raise CliError(f"resource: queue {name!r} runs on {resource!r}, not {self.resource!r}")
        if self.base_image is None:
            return self.body
        return {**self.body, "resource_args": _with_base_image(self.body, resource, self.base_image)}


def _with_base_image(body: JsonObject, resource: str, image: str) -> JsonObject:
    """``body``'s resource args with ``builder.base_image`` set under ``resource`` (the flag wins)."""
    resource_args = dict(body.get("resource_args") or {})
    own = resource_args.get(resource, {})
    builder = own.get("builder", {}) if isinstance(own, dict) else None
    if not isinstance(builder, dict):
        raise CliError(f"-B/--base-image: resource_args.{resource}.builder must be an object to hold it")
    resource_args[resource] = {**own, "builder": {**builder, "base_image": image}}
    return resource_args


def absolute_if_local(uri: str) -> str:
    """A local directory is sent as an absolute path: the server may run in another directory."""
    if "://" in uri or "@" in uri or not Path(uri).expanduser().is_dir():
        return uri
    return str(Path(uri).expanduser().resolve())


# Flags copied into the body as they are, under the API's name (W&B's spelling on the command line).
_NAMED_FLAGS = ("uri", "git_version", "docker_image", "name", "project", "job", "dockerfile", "build_context")


def build_run_request(flags: RunFlags) -> RunRequest:
    """Start from ``-c`` (if any) and let each flag override it, as ``wandb launch`` does."""
    body: JsonObject = {}
    entity = resource = None
    if flags.config is not None:
        body, entity, resource = body_from_launch_config(load_object(CONFIG_OPTION, flags.config))
    named = {key: getattr(flags, key) for key in _NAMED_FLAGS}
    body.update({key: value for key, value in named.items() if value is not None})
    if isinstance(body.get("uri"), str):
        body["uri"] = absolute_if_local(body["uri"])
    if flags.entry_point is not None:
        body["entry_point"] = split_entry_point("-E/--entry-point", flags.entry_point)
    if flags.args:
        body["args"] = list(flags.args)
    if flags.priority is not None:
        body["priority"] = priority_label(flags.priority)
    if flags.resource_args is not None:
        body["resource_args"] = load_object("-R/--resource-args", flags.resource_args)
    if flags.set_vars:
        body["template_variables"] = {**body.get("template_variables", {}), **parse_set_vars(flags.set_vars)}
    if flags.env:
        body["env"] = {**body.get("env", {}), **parse_env(flags.env)}
    return RunRequest(
        body=body,
        entity=flags.entity or entity,
        resource=flags.resource or resource,
        base_image=flags.base_image,
    )


def fill_bare_option(
    args: list[str], names: Collection[str], value: str, takes_value: Collection[str]
) -> list[str]:
    """``args`` with ``value`` put after each of ``names`` that was given bare: last, or followed
    by another option. This is click's ``flag_value`` for an option whose value is optional
    (``wandb launch -q`` means the queue ``default``), which typer's own parser does not offer.

    ``takes_value`` are the options that consume the next argument (``-a -q`` passes ``-q`` to
    the entry point); nothing after ``--`` is touched.
    """
    filled: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        filled.append(arg)
        index += 1
        if arg == "--":
            return filled + args[index:]
        if arg in names and (index == len(args) or _is_option(args[index])):
            filled.append(value)
        elif arg in takes_value and index < len(args):
            filled.append(args[index])
            index += 1
    return filled


def _is_option(arg: str) -> bool:
    return arg.startswith("-") and arg != "-"
