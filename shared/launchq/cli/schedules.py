"""``launchq schedule ...``: enqueue the same run on a cron schedule."""

from typing import Annotated

import typer

from launchq.cli import options as opt
from launchq.cli.inputs import RunFlags, build_run_request
from launchq.cli.options import client_from
from launchq.cli.render import SCHEDULES, OutputFormat, print_listing, timestamp

schedule_app = typer.Typer(help="Enqueue runs on a cron schedule.", no_args_is_help=True)

ScheduleName = Annotated[str, typer.Argument(help=f"Schedule name: {opt.NAME_IN_WORDS}.")]


@schedule_app.command("create")
def create_schedule(
    ctx: typer.Context,
    name: ScheduleName,
    *,
    queue: Annotated[str, typer.Option("--queue", "-q", help="Queue to enqueue onto.")],
    cron: Annotated[str, typer.Option("--cron", help='Five-field cron expression in UTC, e.g. "0 3 * * *".')],
    uri: opt.Uri = None,
    git_version: opt.GitVersion = None,
    docker_image: opt.DockerImage = None,
    entry_point: opt.EntryPoint = None,
    args: opt.Args = None,
    priority: opt.PriorityOpt = None,
    config: opt.LaunchConfig = None,
    resource_args: opt.ResourceArgs = None,
    set_var: opt.SetVar = None,
    run_name: opt.RunName = None,
    project: opt.Project = None,
    entity: opt.Entity = None,
    env: opt.Env = None,
) -> None:
    """Enqueue a run onto QUEUE at every tick of CRON; takes the same run flags as `launch`."""
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
            name=run_name,
            project=project,
            entity=entity,
            env=env or [],
        )
    )
    body = {"name": name, "queue": queue, "cron": cron, "run": request.body}
    with client_from(ctx) as client:
        body["run"] = request.for_queue(queue, client.get_queue)  # -e and resource in -c checked
        schedule = client.create_schedule(body)
    next_fire = schedule.get("next_fire_at")
    when = f", next at {timestamp(next_fire)}" if next_fire else ""  # the time says its zone
    typer.echo(f"created schedule {name}: {cron!r} onto {queue}{when}")


@schedule_app.command("list")
def list_schedules(
    ctx: typer.Context, output: opt.Output = OutputFormat.TABLE, limit: opt.Limit = None
) -> None:
    """List schedules with their next fire time and last run."""
    with client_from(ctx) as client:
        schedules = client.list_schedules()
    print_listing(SCHEDULES, schedules, output, limit)


@schedule_app.command("delete")
def delete_schedule(ctx: typer.Context, name: ScheduleName) -> None:
    """Delete a schedule; runs it already enqueued are not touched."""
    with client_from(ctx) as client:
        client.delete_schedule(name)
    typer.echo(f"deleted schedule {name}")
