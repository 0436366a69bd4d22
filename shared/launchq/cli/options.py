"""Option declarations shared by several commands, and the API client each command talks through.

The run flags keep ``wandb launch``'s names and short forms (``-u -g -d -E -c -R -v -P -p -e``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

from launchq.cli.auth import AuthMode, signer_for
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
    return ApiClient(state.url, signer=signer_for(state.url, state.auth, state.profile))


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
