"""The ``launchq`` command: serve the API, run an agent, launch runs, manage queues and schedules.

Every failure ends as one ``Error: ...`` line and an exit status, never a traceback, and the
command groups (``queue``, ``runs``, ``schedule``, ``code``, ``job``) load only when one is
invoked: both are the top-level group's work, in ``launchq.cli.group``.

The modules that declare commands (this one and each group's) do not use ``from __future__
import annotations``: typer reads every command's type hints, and string annotations would be
compiled and evaluated one by one at each start (about a tenth of ``launchq --help``'s work).
"""

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from launchq import __version__
from launchq.cli import options as opt
from launchq.cli.auth import AuthMode
from launchq.cli.client import DEFAULT_URL, JsonObject
from launchq.cli.errors import CliError, Unreachable
from launchq.cli.group import LaunchqGroup, deferring
from launchq.cli.group import load_module as _load

opt.coerce_lightly()  # no pydantic to read options whose values need no converting

app = typer.Typer(
    name="launchq",
    cls=LaunchqGroup,
    help="launchq: priority queues of ML jobs, W&B Launch style, on your own machine or cloud.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help, as wide as the terminal: typer's rich help imports rich's console,
    # markdown and traceback, ~190 ms of the ~400 ms `launchq --help` took; and no "[...]" in
    # a help text can ever be read as markup and vanish
    rich_markup_mode=None,
    context_settings={"max_content_width": 1_000},
)


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
    no_dispatch: Annotated[
        bool,
        typer.Option(
            "--no-dispatch",
            help="Serve the API only, for agents to launch every run: no dispatcher or reconciler "
            "(expired claims still go back in line, schedules still fire).",
            show_default="$LAUNCHQ_NO_DISPATCH, else off",
        ),
    ] = False,
    auth: Annotated[
        str | None,
        typer.Option(
            "--auth",
            help="keys: every request needs Authorization: Bearer <api key> (required off loopback).",
            show_default="$LAUNCHQ_AUTH, else none",
        ),
    ] = None,
    allow_dir: Annotated[
        list[Path] | None,
        typer.Option(
            "--allow-dir",
            metavar="DIR",
            help="A directory a run's local uri may name (repeatable; symlinks and .. resolved first).",
            show_default="$LAUNCHQ_ALLOW_DIRS, else any with auth off; the data dir and . with auth on",
        ),
    ] = None,
) -> None:
    """Serve the launchq API on this machine, backed by SQLite (unset options: LAUNCHQ_* or defaults)."""
    _load("launchq.local.server").serve(
        host=host,
        port=port,
        data_dir=data_dir,
        config_path=config,
        no_dispatch=no_dispatch or None,
        allow_dirs=allow_dir,
        auth=auth,
    )


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
        from launchq.cli.inputs import fill_bare_option

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
    from launchq.cli.inputs import RunFlags, build_run_request

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
    """Console-script entry point: one command per process, so groups load lazily and only
    the command invoked is built (typer reads the signature of every command it is given)."""
    LaunchqGroup.lazy = True
    with deferring(app) as commands:
        LaunchqGroup.deferred_top = commands
        try:
            app()
        finally:
            LaunchqGroup.deferred_top = {}


if __name__ == "__main__":
    main()
