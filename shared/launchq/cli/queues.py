"""``launchq queue ...``: create, update, list, show and delete queues."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from launchq.cli.errors import CliError
from launchq.cli.inputs import load_object
from launchq.cli.options import NAME_IN_WORDS, Limit, Output, client_from
from launchq.cli.render import QUEUES, OutputFormat, print_listing, print_queue

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


@queue_app.command("delete")
def delete_queue(ctx: typer.Context, name: QueueName) -> None:
    """Delete a queue."""
    with client_from(ctx) as client:
        client.delete_queue(name)
    typer.echo(f"deleted queue {name}")
