"""Option declarations shared by several commands, and the API client each command talks through.

The run flags keep ``wandb launch``'s names and short forms (``-u -g -d -E -c -R -v -P -p -e``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any

import typer
from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
from typer._param_types import coerce_cli_choice
from typer.core import _TyperParameter
from typer.models import ParameterInfo

from launchq.cli.auth import AuthMode, api_key_headers, signer_for
from launchq.cli.client import DEFAULT_URL, ApiClient
from launchq.cli.render import OutputFormat


@dataclass(frozen=True)
class AppState:
    """What the top-level options decided, handed to every command through ``ctx.obj``."""

    url: str = DEFAULT_URL
    auth: AuthMode = AuthMode.AUTO
    profile: str | None = None


def client_from(ctx: typer.Context) -> ApiClient:
    """An ``ApiClient`` for the ``--url``, ``--auth`` and ``--profile`` chosen at the top level.

    Credentials are looked up here, before the first request, so a missing key is one clear
    error rather than a 403 from the gateway.
    """
    state = ctx.find_object(AppState) or AppState()
    headers = api_key_headers(state.url, state.auth, state.profile)  # LAUNCHQ_API_KEY, checked first
    return ApiClient(state.url, signer=signer_for(state.url, state.auth, state.profile), headers=headers)


# the rule of launchq.domain.models.Name, said here so the CLI starts without importing pydantic models
NAME_IN_WORDS = "1 to 63 characters: letters, digits, '_', '.' or '-', starting with a letter or digit"

Uri = Annotated[str | None, typer.Option("--uri", "-u", help="Git URL or local directory with the code.")]
GitVersion = Annotated[
    str | None, typer.Option("--git-version", "-g", help="Branch, tag or commit for a git --uri.")
]
DockerImage = Annotated[
    str | None, typer.Option("--docker-image", "-d", help="Prebuilt image to run, name:tag.")
]
EntryPoint = Annotated[
    str | None,
    typer.Option("--entry-point", "-E", help='Command to run, e.g. "python train.py"; split like a shell.'),
]
Args = Annotated[
    list[str] | None,
    typer.Option("--args", "-a", help="Argument for the entry point (repeat; use --args=--flag)."),
]
PriorityOpt = Annotated[
    str | None,
    typer.Option("--priority", "-P", help="critical, high, medium (default) or low; or 0..3."),
]
LaunchConfig = Annotated[
    str | None,
    typer.Option(
        "--config",
        "-c",
        help="W&B launch config: a .json/.yaml file or inline JSON (overrides, resource_args, ...).",
    ),
]
ResourceArgs = Annotated[
    str | None,
    typer.Option(
        "--resource-args", "-R", help="Resource args merged over the queue config: file or inline JSON."
    ),
]
SetVar = Annotated[
    list[str] | None,
    typer.Option("--set-var", "-v", help="Template variable key=value (repeat); numbers stay numbers."),
]
RunName = Annotated[str | None, typer.Option("--name", help="Name of the run.")]
Project = Annotated[str | None, typer.Option("--project", "-p", help="Project the run belongs to.")]
Entity = Annotated[
    str | None, typer.Option("--entity", "-e", help="Entity the queue must belong to (checked).")
]
Env = Annotated[
    list[str] | None, typer.Option("--env", help="Environment variable KEY=VALUE for the job (repeat).")
]

# -- listings: every `... list` takes these two ------------------------------------------------
Output = Annotated[
    OutputFormat,
    typer.Option(
        "--output",
        "-o",
        help="table: for people (fits the terminal; no box when piped); plain: a header and "
        "tab-separated lines; json: the API's answer as one document.",
    ),
]
Limit = Annotated[
    int | None,
    typer.Option("--limit", min=1, max=10_000, help="Show at most this many.", show_default="all"),
]
RunsLimit = Annotated[
    int | None,
    typer.Option(
        "--limit", min=1, max=10_000, help="Show at most this many, newest first.", show_default="1000"
    ),
]


# -- option values without pydantic where typer's answer needs none -------------------------
_TYPER = object()  # "ask typer": the value needs typer's own coercion (or its error message)
_INTEGER = re.compile(r"[+-]?[0-9]+")


def _choice(annotation: type[Enum], info: ParameterInfo, value: Any, ctx: Any) -> Any:
    if isinstance(value, annotation):  # an option's default
        return value
    try:  # typer's own matching (case, the context's token normalising), without its adapter
        return coerce_cli_choice(
            value, choices=tuple(annotation), case_sensitive=info.case_sensitive, ctx=ctx
        )
    except ValueError:
        return _TYPER  # typer words the error


def _integer(info: ParameterInfo, value: Any) -> Any:
    if not isinstance(value, str) or not _INTEGER.fullmatch(value) or info.clamp:
        return _TYPER
    number = int(value)
    too_low = info.min is not None and number < info.min
    too_high = info.max is not None and number > info.max
    return _TYPER if too_low or too_high else number


def _as_given(annotation: Any, info: ParameterInfo, value: Any, ctx: Any = None) -> Any:
    """What typer's coercion makes of ``value``, for the values whose answer needs no pydantic,
    else ``_TYPER``: a string for ``str`` (what argv and environment variables give), a choice
    of an Enum (a member, or a string typer matches to one), a whole number in range for an
    ``int``, a ``list[str]`` of strings (as a list). Anything else, and every value typer
    refuses, is typer's to convert or to word the error for."""
    if annotation is str:
        return value if isinstance(value, str) else _TYPER
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _choice(annotation, info, value, ctx)
    if annotation is int:
        return _integer(info, value)
    if annotation == list[str] and isinstance(value, list | tuple):
        return list(value) if all(isinstance(item, str) for item in value) else _TYPER
    return _TYPER


@dataclass(frozen=True)
class _GivenElseTyper(RuntimeParam):
    """A parameter's coercion that asks typer only for values that need converting.

    typer (0.29) coerces every value of every parameter of the invoked command through a
    pydantic ``TypeAdapter`` it builds first, even a missing value or a string for a ``str``:
    pydantic's import and the adapters were most of ``launchq runs list``'s start. Values whose
    answer needs no pydantic are answered here, as typer would (see ``_as_given``); any other
    (a path, a float, a value typer refuses) goes to typer's own coercion, built on first use,
    so its checks, conversions and error messages stay typer's.
    """

    descriptor: TypeDescriptor
    built: list[RuntimeParam] = field(default_factory=list)  # typer's own, once needed

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        given = _as_given(self.annotation, self.parameter_info, value, ctx)
        if given is not _TYPER:
            return given
        if not self.built:
            self.built.append(build_runtime_param(self.descriptor))
        return self.built[0]._coerce_value(value, param=param, ctx=ctx)


def _given_else_typer(param: _TyperParameter) -> RuntimeParam:
    """``_TyperParameter.get_runtime_param`` with ``_GivenElseTyper`` as what it makes."""
    if param._runtime_param is None:
        descriptor = param.type_descriptor
        param._runtime_param = _GivenElseTyper(
            parameter_info=descriptor.parameter_info, annotation=descriptor.annotation, descriptor=descriptor
        )
    return param._runtime_param


def coerce_lightly() -> None:
    """Make every typer parameter (help options too, made on first use) coerce through
    ``_GivenElseTyper``. It replaces the one method of typer's (0.29) parameter class that
    makes a parameter's coercion; tests/unit/test_cli_imports.py fails if a typer upgrade
    stops calling it, and the CLI's tests check the values and errors still come out alike."""
    setattr(_TyperParameter, "get_runtime_param", _given_else_typer)  # noqa: B010 (mypy: a method)
