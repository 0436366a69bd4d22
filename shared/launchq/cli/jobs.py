"""``launchq job ...``: create, list and describe launch jobs (W&B's ``wandb job``).

A job is a named, versioned recipe (a source, an entry point, default args and env, the
schema of its inputs); ``launchq launch -j NAME[:VERSION]`` enqueues a run from it.
"""

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from launchq.cli import options as opt
from launchq.cli.code import upload_directory
from launchq.cli.errors import CliError
from launchq.cli.inputs import absolute_if_local, load_object, parse_env, split_entry_point
from launchq.cli.render import (
    JOBS,
    OutputFormat,
    job_source,
    print_listing,
    timestamp,
)
from launchq.cli.show import details, print_section, show_console

job_app = typer.Typer(help="Create, list and describe launch jobs (W&B's `wandb job`).", no_args_is_help=True)

JsonObject = dict[str, Any]
JobName = Annotated[
    str, typer.Argument(help="Job name: 1 to 63 letters, digits, '_', '.' or '-'; a letter or digit first.")
]


def _source_body(
    ctx: typer.Context, uri: str | None, git_version: str | None, docker_image: str | None, code: Path | None
) -> JsonObject:
    """The ``source`` object: exactly one of -u, -d and --code (a directory, uploaded here)."""
    flags = (("-u/--uri", uri), ("-d/--docker-image", docker_image), ("--code", code))
    given = [flag for flag, value in flags if value is not None]
    if len(given) > 1:
        raise CliError(f"job create: give one source, not {' and '.join(given)}")
    if git_version is not None and uri is None:
        raise CliError("-g/--git-version: goes with a git -u/--uri")
    if uri is not None:
        return {"uri": absolute_if_local(uri), **({"git_version": git_version} if git_version else {})}
    if docker_image is not None:
        return {"docker_image": docker_image}
    if code is not None:
        return {"code": upload_directory(ctx, code, "--code")[0]}
    raise CliError(
        "job create: give a source: -u/--uri DIR_OR_GIT_URL, -d/--docker-image IMAGE or --code DIR"
    )


def print_job(job: JsonObject) -> None:
    """``job describe``: the version's fields, then its env and input schema as YAML."""
    versions = job.get("versions")
    rows: list[tuple[str, Any]] = [
        ("job", f"{job.get('name')}:v{job.get('version')}"),
        ("versions", ", ".join(f"v{v}" for v in versions) if isinstance(versions, list) else None),
        ("source", job_source(job)),
        ("entry_point", shlex.join(job.get("entry_point") or []) or None),
        ("args", shlex.join(job.get("args") or []) or None),
        ("description", job.get("description")),
        ("created", timestamp(job.get("created_at"))),
    ]
    out = show_console()
    out.print(details(rows))
    for key in ("env", "input_schema"):
        if job.get(key):
            print_section(out, key, job[key])


@job_app.command("create")
def create_job(
    ctx: typer.Context,
    name: JobName,
    *,
    uri: opt.Uri = None,
    git_version: opt.GitVersion = None,
    docker_image: opt.DockerImage = None,
    code: Annotated[
        Path | None,
        typer.Option("--code", help="A directory to upload (as `launchq code push` does) and run from."),
    ] = None,
    entry_point: opt.EntryPoint = None,
    args: opt.Args = None,
    env: opt.Env = None,
    input_schema: Annotated[
        str | None,
        typer.Option(
            "--input-schema",
            help="JSON Schema of the run_config a launch may pass (-c overrides.run_config): file or inline.",
        ),
    ] = None,
    description: Annotated[str | None, typer.Option("--description", help="What the job does.")] = None,
) -> None:
    """Create the next version of job NAME (v1 for a new name) and print NAME:vN; :latest moves to it."""
    body: JsonObject = {"name": name}
    if entry_point is not None:
        body["entry_point"] = split_entry_point("-E/--entry-point", entry_point)
    if args:
        body["args"] = list(args)
    if env:
        body["env"] = parse_env(env)
    if input_schema is not None:
        body["input_schema"] = load_object("--input-schema", input_schema)
    if description is not None:
        body["description"] = description
    body["source"] = _source_body(ctx, uri, git_version, docker_image, code)  # last: it may upload
    with opt.client_from(ctx) as client:
        job = client.create_job(body)
    typer.echo(f"{job.get('name', name)}:v{job.get('version', '?')}")


@job_app.command("list")
def list_jobs(ctx: typer.Context, output: opt.Output = OutputFormat.TABLE, limit: opt.Limit = None) -> None:
    """List jobs: the latest version of each, with its source and entry point."""
    with opt.client_from(ctx) as client:
        jobs = client.list_jobs()
    print_listing(JOBS, jobs, output, limit)


@job_app.command("describe")
def describe_job(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME (the latest version), NAME:latest, NAME:vN or NAME:N.")],
) -> None:
    """Show one version of a job (the latest unless given), with its env and input schema."""
    name, _, version = ref.partition(":")
    with opt.client_from(ctx) as client:
        job = client.get_job(name, version or None)
        if job.get("versions") is None:  # one version was asked for: the list comes with the latest
            job["versions"] = client.get_job(name).get("versions")
    print_job(job)
