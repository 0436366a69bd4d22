"""The ``launchq`` command: serve the API, run an agent, launch runs, manage queues and schedules.

Every failure ends as one ``Error: ...`` line on stderr and a non-zero exit status (2 for the
user's mistakes, 1 for server or connection problems), never a traceback; set
``LAUNCHQ_DEBUG=1`` to let an unexpected exception through with its traceback.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

from launchq import __version__
from launchq.cli import options as opt
from launchq.cli.auth import AuthMode
from launchq.cli.client import DEFAULT_URL, JsonObject
from launchq.cli.code import code_app
from launchq.cli.errors import SERVER_ERROR, USER_ERROR, CliError, Unreachable
from launchq.cli.inputs import RunFlags, build_run_request, fill_bare_option
from launchq.cli.jobs import job_app
from launchq.cli.queues import queue_app
from launchq.cli.runs import runs_app
from launchq.cli.schedules import schedule_app
from launchq.errors import AlreadyExists, Conflict, InvalidInput, LaunchqError, NotFound

_USER_MISTAKES = (InvalidInput, NotFound, AlreadyExists, Conflict)


def fail(message: str, exit_code: int) -> NoReturn:
    """Print ``Error: message`` as a single line on stderr and end with ``exit_code``."""
    typer.echo(f"Error: {' '.join(message.split())}", err=True)
    raise typer.Exit(exit_code)


class LaunchqGroup(TyperGroup):
    """The top-level group: turns every error raised below it into one line and an exit status."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        """Parse the top-level options (``--url``, ``--auth``, ...); a bad one is one line too."""
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                raise
            fail(f"{exc.format_message()} (see 'launchq --help')", exc.exit_code)

    def invoke(self, ctx: Any) -> Any:  # Any: typer types it with its private vendored click
        """Run the chosen command; errors become ``Error: ...`` on stderr."""
        try:
            return super().invoke(ctx)
        except CliError as exc:
            fail(exc.message, exc.exit_code)
        except LaunchqError as exc:
            fail(str(exc), USER_ERROR if isinstance(exc, _USER_MISTAKES) else SERVER_ERROR)
        except typer.TyperException as exc:  # a usage error: missing option, bad value, no such command
            if type(exc).__name__ == "NoArgsIsHelpError":  # typer shows the help; matched as typer does
                raise
            where = getattr(exc, "ctx", None)
            hint = f" (see '{where.command_path} --help')" if where is not None else ""
            fail(f"{exc.format_message()}{hint}", exc.exit_code)
        except (typer.Exit, typer.Abort, BrokenPipeError):  # --help, --version, Ctrl-C: typer's own
            raise
        except Exception as exc:
            if os.environ.get("LAUNCHQ_DEBUG"):
                raise
            fail(f"unexpected {type(exc).__name__}: {exc} (LAUNCHQ_DEBUG=1 shows the traceback)", 1)


app = typer.Typer(
    name="launchq",
    cls=LaunchqGroup,
    help="launchq: priority queues of ML jobs, W&B Launch style, on your own machine or cloud.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(queue_app, name="queue")
app.add_typer(runs_app, name="runs")
app.add_typer(schedule_app, name="schedule")
app.add_typer(code_app, name="code")
app.add_typer(job_app, name="job")


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"launchq {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option("--url", envvar="LAUNCHQ_URL", help="Where the launchq API listens.")
    ] = DEFAULT_URL,
    auth: Annotated[
        AuthMode,
        typer.Option(
            "--auth",
            envvar="LAUNCHQ_AUTH",
            help="Sign requests with AWS SigV4 (aws-iam), never (none), or for API Gateway URLs (auto).",
        ),
    ] = AuthMode.AUTO,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", help="AWS profile to sign with.", show_default="AWS_PROFILE, else the chain"
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Priority queues of ML jobs: launch runs onto queues, agents run them."""
    ctx.obj = opt.AppState(url=url, auth=auth, profile=profile)


def _load(module: str) -> ModuleType:
    """Import a part of launchq only when its command runs, so the CLI starts fast."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Unreachable(f"cannot load {module}: {exc}") from None


DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Local database and logs.",
        show_default="$LAUNCHQ_DATA_DIR, else ./.launchq if it exists, else ~/.local/share/launchq",
    ),
]


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Interface to listen on.", show_default="127.0.0.1")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=0, max=65535, help="Port to listen on.", show_default="8080")
    ] = None,
    data_dir: DataDir = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="launch-config.yaml: builder, registry, environment."),
    ] = None,
) -> None:
    """Serve the launchq API on this machine, backed by SQLite (unset options: LAUNCHQ_* or defaults)."""
    _load("launchq.local.server").serve(host=host, port=port, data_dir=data_dir, config_path=config)


def _control_plane(ctx: typer.Context, url: str | None, api_key: str | None) -> Any:
    """The control plane ``launchq agent --url`` pulls from (None: the local store), with the
    top-level ``--auth``/``--profile`` (SigV4) or a Bearer ``--api-key``. ``launchq --url X
    agent`` counts too; the top-level default URL does not, so a bare ``agent`` stays local."""
    root = ctx.parent
    source = root.get_parameter_source("url") if root is not None else None
    if url is None and root is not None and getattr(source, "name", "") == "COMMANDLINE":
        url = root.params["url"]  # (typer's vendored click: its ParameterSource matched by name)
    if url is None:
        if api_key:
            raise CliError("--api-key: only used with --url (an agent on its own store needs no key)")
        return None
    state = ctx.find_object(opt.AppState) or opt.AppState()
    remote = _load("launchq.remote.wiring")
    auth = _load("launchq.remote.client").agent_auth(url, api_key, state.auth, state.profile)
    return remote.ControlPlane(url=url, auth=auth)


@app.command()
def agent(
    ctx: typer.Context,
    queue: Annotated[
        list[str] | None, typer.Option("--queue", "-q", help="Queue to work on (repeat for several).")
    ] = None,
    max_jobs: Annotated[
        int | None, typer.Option("--max-jobs", "-j", help="Runs at once; -1 = no limit.", show_default="1")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Agent config: launch-config.yaml.")
    ] = None,
    data_dir: DataDir = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="LAUNCHQ_URL",
            help="Pull runs from the launchq control plane at this URL.",
            show_default="the local store",
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="LAUNCHQ_API_KEY",
            help="API key sent as 'Authorization: Bearer' (https://, or http:// to this machine only).",
            show_default=False,
        ),
    ] = None,
    entity: Annotated[
        str | None,
        typer.Option("--entity", "-e", help="Entity every queue must belong to (checked at start)."),
    ] = None,
    log_file: Annotated[
        str | None,
        typer.Option(
            "--log-file",
            "-l",
            help="Write the agent's log to this file ('-': stdout).",
            show_default="stderr",
        ),
    ] = None,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose", "-v", count=True, show_default=False, help="Debug logging (-vv: of libraries too)."
        ),
    ] = 0,
) -> None:
    """Run an agent that takes runs off queues and starts them, like `wandb launch-agent`."""
    if config is not None and not config.is_file():
        raise CliError(f"-c/--config: cannot read {str(config)!r}: no such file")
    if max_jobs is not None and (max_jobs == 0 or max_jobs < -1):
        raise CliError("-j/--max-jobs: must be -1 (no limit) or at least 1")
    _check_log_file(log_file)
    remote = _control_plane(ctx, url, api_key)
    _load("launchq.local.agent").run_agent(
        queues=list(queue or []),
        max_jobs=max_jobs,
        config_path=config,
        data_dir=data_dir,
        entity=entity,
        log_file=log_file,
        verbose=verbose,
        **({"control_plane": remote} if remote is not None else {}),  # a local agent: as before
    )


def _check_log_file(log_file: str | None) -> None:
    """Refuse a log file the agent could not write before it starts (it appends, as W&B's does)."""
    if log_file is None or log_file == "-":
        return
    try:
        with Path(log_file).expanduser().open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise CliError(f"-l/--log-file: cannot write {log_file!r}: {exc.strerror or exc}") from None


def _queued_line(run: JsonObject, queue: str) -> str:
    where = f"on {run.get('queue') or queue}"
    priority = f" ({run['priority']})" if run.get("priority") else ""
    if run.get("position") is not None:
        return f"queued at position {run['position']} {where}{priority}"
    return f"{run.get('state', 'queued')} {where}{priority}"


class BareQueueCommand(TyperCommand):
    """``launch``'s parser: a bare ``-q``/``--queue`` is the queue ``default``, as in ``wandb launch``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        takes_value = {
            name
            for param in self.params
            if param.param_type_name == "option"
            and not getattr(param, "is_flag", False)
            and not getattr(param, "count", False)
            for name in param.opts
        }
        return super().parse_args(ctx, fill_bare_option(args, ("-q", "--queue"), "default", takes_value))


@app.command(cls=BareQueueCommand)
def launch(
    ctx: typer.Context,
    *,
    queue: Annotated[
        str, typer.Option("--queue", "-q", help="Queue to enqueue the run onto; a bare -q means 'default'.")
    ],
    job: Annotated[
        str | None,
        typer.Option(
            "--job", "-j", help="Launch job to run: NAME, NAME:latest or NAME:vN (flags override it)."
        ),
    ] = None,
    uri: opt.Uri = None,
    git_version: opt.GitVersion = None,
    docker_image: opt.DockerImage = None,
    entry_point: opt.EntryPoint = None,
    args: opt.Args = None,
    priority: opt.PriorityOpt = None,
    config: opt.LaunchConfig = None,
    resource_args: opt.ResourceArgs = None,
    set_var: opt.SetVar = None,
    name: opt.RunName = None,
    project: opt.Project = None,
    entity: opt.Entity = None,
    env: opt.Env = None,
    dockerfile: Annotated[
        str | None,
        typer.Option("--dockerfile", "-D", help="Dockerfile to build with, a path from the source's root."),
    ] = None,
    base_image: Annotated[
        str | None,
        typer.Option("--base-image", "-B", help="Base image of the built image (builder.base_image)."),
    ] = None,
    build_context: Annotated[
        str | None,
        typer.Option("--build-context", help="Sub-directory of the source to build the image from."),
    ] = None,
    resource: Annotated[
        str | None,
        typer.Option(
            "--resource", "-r", help="Resource the queue must run on, e.g. local-process (checked)."
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="Retrying with the same key never enqueues twice."),
    ] = None,
) -> None:
    """Enqueue a run and print its id (only the id goes to stdout: RUN=$(launchq launch ...))."""
    request = build_run_request(
        RunFlags(
            uri=uri,
            git_version=git_version,
            docker_image=docker_image,
            entry_point=entry_point,
            args=args or [],
            priority=priority,
            config=config,
            resource_args=resource_args,
            set_vars=set_var or [],
            name=name,
            project=project,
            entity=entity,
            env=env or [],
            job=job,
            dockerfile=dockerfile,
            base_image=base_image,
            build_context=build_context,
            resource=resource,
        )
    )
    with opt.client_from(ctx) as client:
        body = request.for_queue(queue, client.get_queue)
        run = client.enqueue_run(queue, body, idempotency_key=idempotency_key)
    if not run.get("id"):
        raise Unreachable("unexpected answer from launchq: the new run has no id")
    typer.echo(run["id"])
    typer.echo(_queued_line(run, queue), err=True)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
