"""``launchq queue ...``: create, update, list, show and delete queues."""

from enum import StrEnum
from http import HTTPStatus
from typing import Annotated, Any

import typer

from launchq.cli.client import ApiClient
from launchq.cli.errors import SERVER_ERROR, ApiError, CliError
from launchq.cli.inputs import load_object
from launchq.cli.options import NAME_IN_WORDS, Limit, Output, client_from
from launchq.cli.render import QUEUES, OutputFormat, print_listing
from launchq.cli.show import print_queue

queue_app = typer.Typer(help="Create, list, show and delete queues.", no_args_is_help=True)

QueueName = Annotated[str, typer.Argument(help=f"Queue name: {NAME_IN_WORDS}.")]
QueueConfig = Annotated[
    str | None,
    typer.Option(
        "--config",
        "-c",
        help="Resource config template: a .json/.yaml/.yml file or inline JSON/YAML; may use {{vars}}.",
    ),
]
MaxJobs = Annotated[
    int | None, typer.Option("--max-jobs", "-j", help="Runs at once on this queue; -1 = unlimited.")
]
Prioritization = Annotated[
    bool | None,
    typer.Option("--prioritization/--no-prioritization", help="Order by priority, or FIFO only."),
]
AllowOverrides = Annotated[
    bool | None,
    typer.Option(
        "--allow-overrides/--no-allow-overrides", help="Whether runs may merge their own resource args."
    ),
]
TemplateVariables = Annotated[
    str | None,
    typer.Option(
        "--template-variables",
        help='Variable schema, file or inline, e.g. \'{"gpus": {"type": "int", "min": 1, "max": 8}}\'.',
    ),
]


class DispatchChoice(StrEnum):
    """``Queue.dispatch``: who takes the queue's runs."""

    SERVER = "server"
    AGENTS = "agents"


Dispatch = Annotated[
    DispatchChoice | None,
    typer.Option(
        "--dispatch",
        help="server: the control plane launches the runs; agents: only agents pulling over HTTP "
        "(launchq agent --url) take them, e.g. on a GPU machine the control plane cannot reach.",
    ),
]


def _settings(
    config: str | None,
    max_jobs: int | None,
    prioritization: bool | None,
    allow_overrides: bool | None,
    template_variables: str | None,
    dispatch: DispatchChoice | None = None,
) -> dict[str, Any]:
    """Only the settings given on the command line; the server's defaults fill the rest."""
    body: dict[str, Any] = {}
    if config is not None:
        body["config"] = load_object("--config", config)
    if template_variables is not None:
        body["template_variables"] = load_object("--template-variables", template_variables)
    if max_jobs is not None:
        body["max_jobs"] = max_jobs
    if prioritization is not None:
        body["prioritization"] = prioritization
    if allow_overrides is not None:
        body["allow_overrides"] = allow_overrides
    if dispatch is not None:
        body["dispatch"] = dispatch.value
    return body


@queue_app.command("create")
def create_queue(
    ctx: typer.Context,
    name: QueueName,
    *,
    resource: Annotated[
        str,
        typer.Option(
            "--resource", "-r", help="Target: local-process, local-container, kubernetes, sagemaker, vertex."
        ),
    ],
    config: QueueConfig = None,
    max_jobs: MaxJobs = None,
    prioritization: Prioritization = None,
    allow_overrides: AllowOverrides = None,
    template_variables: TemplateVariables = None,
    dispatch: Dispatch = None,
) -> None:
    """Create a queue that sends its runs to one resource."""
    body = {
        "name": name,
        "resource": resource,
        **_settings(config, max_jobs, prioritization, allow_overrides, template_variables, dispatch),
    }
    with client_from(ctx) as client:
        queue = client.create_queue(body)
    typer.echo(f"created queue {queue.get('name', name)} ({queue.get('resource', resource)})")


@queue_app.command("update")
def update_queue(
    ctx: typer.Context,
    name: QueueName,
    *,
    resource: Annotated[str | None, typer.Option("--resource", "-r", help="New target resource.")] = None,
    config: QueueConfig = None,
    max_jobs: MaxJobs = None,
    prioritization: Prioritization = None,
    allow_overrides: AllowOverrides = None,
    template_variables: TemplateVariables = None,
    dispatch: Dispatch = None,
) -> None:
    """Change some settings of a queue; the ones not given stay as they are."""
    changes = _settings(config, max_jobs, prioritization, allow_overrides, template_variables, dispatch)
    if resource is not None:
        changes["resource"] = resource
    if not changes:
        raise CliError("queue update: nothing to change; give at least one option (see --help)")
    with client_from(ctx) as client:
        queue = client.update_queue(name, changes)
    typer.echo(f"updated queue {queue.get('name', name)} (version {queue.get('version', '?')})")


@queue_app.command("list")
def list_queues(ctx: typer.Context, output: Output = OutputFormat.TABLE, limit: Limit = None) -> None:
    """List queues with their resource, concurrency limit and how busy they are."""
    with client_from(ctx) as client:
        queues = client.list_queues()
    print_listing(QUEUES, queues, output, limit)


@queue_app.command("show")
def show_queue(ctx: typer.Context, name: QueueName) -> None:
    """Show one queue, with its config template and template variables as YAML."""
    with client_from(ctx) as client:
        queue = client.get_queue(name)
    print_queue(queue)


DELETE_POLL_SECONDS = 0.5
"""How often ``queue delete --force`` asks again while the queue's jobs are stopping."""


@queue_app.command("delete")
def delete_queue(
    ctx: typer.Context,
    name: QueueName,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Stop what the queue holds first (queued runs are cancelled, active ones asked to "
            "stop), wait until they have stopped, then delete it.",
        ),
    ] = False,
    wait: Annotated[
        float,
        typer.Option("--wait", min=0, help="With --force: seconds to wait for the queue's jobs to stop."),
    ] = 60.0,
) -> None:
    """Delete a queue; its runs stay readable. Without --force a queue that holds runs is refused."""
    if not force and _given(ctx, "wait"):
        raise CliError("queue delete: --wait only goes with --force (see 'launchq queue delete --help')")
    with client_from(ctx) as client:
        if force:
            _delete_when_stopped(client, name, wait)
        else:
            client.delete_queue(name)
    typer.echo(f"deleted queue {name}")


def _given(ctx: typer.Context, option: str) -> bool:
    """Whether ``option`` was typed (typer's vendored click: its ParameterSource matched by name)."""
    return getattr(ctx.get_parameter_source(option), "name", "") == "COMMANDLINE"


def _delete_when_stopped(client: ApiClient, name: str, wait: float) -> None:
    """``DELETE /queues/{name}?force=true`` until it is gone: each 409 means jobs are still
    stopping (every ask also stops what was enqueued meanwhile). A status line on stderr
    says how many are left (a spinner on a terminal); past ``wait`` seconds, exit 1 naming
    what is left and how to go on."""
    import time

    from launchq.cli.progress import StatusLine

    deadline = time.monotonic() + wait
    status = StatusLine()
    try:
        while True:
            try:
                client.delete_queue(name, force=True)
                return
            except ApiError as exc:
                if exc.status != HTTPStatus.CONFLICT:
                    raise
                left = _runs_left(client, name)
                if time.monotonic() >= deadline:
                    raise CliError(
                        f"queue {name} not deleted: {left} run(s) still stopping after {wait:g} s; "
                        f"run `launchq queue delete {name} --force` again once they have stopped",
                        exit_code=SERVER_ERROR,
                    ) from None
                status.show(f"queue {name}: waiting for {left} run(s) to stop")
            time.sleep(DELETE_POLL_SECONDS)
    finally:
        status.close()


def _runs_left(client: ApiClient, name: str) -> int:
    queue = client.get_queue(name)
    return int(queue.get("active", 0)) + int(queue.get("queued", 0))
