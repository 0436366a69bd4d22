"""``launchq runs ...``: list, show, read or follow the output of, and stop runs."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from launchq.cli.client import ApiClient
from launchq.cli.options import Output, RunsLimit, client_from
from launchq.cli.render import RUNS, OutputFormat, print_listing, print_run
from launchq.domain.states import TERMINAL

runs_app = typer.Typer(help="List, inspect, follow and stop runs.", no_args_is_help=True)

POLL_SECONDS = 0.5
TERMINAL_STATES = frozenset(state.value for state in TERMINAL)

RunId = Annotated[str, typer.Argument(help="Run id, as `launchq launch` printed it.")]


@runs_app.command("list")
def list_runs(
    ctx: typer.Context,
    queue: Annotated[str | None, typer.Option("--queue", "-q", help="Only runs of this queue.")] = None,
    state: Annotated[
        str | None, typer.Option("--state", help="Only runs in this state, e.g. queued, running.")
    ] = None,
    output: Output = OutputFormat.TABLE,
    limit: RunsLimit = None,
) -> None:
    """List runs, newest first, optionally of one queue or in one state."""
    with client_from(ctx) as client:
        runs = client.list_runs(queue=queue, state=state, limit=limit)
    print_listing(RUNS, runs, output)


@runs_app.command("show")
def show_run(ctx: typer.Context, run_id: RunId) -> None:
    """Show one run and every state change it went through, with reasons."""
    with client_from(ctx) as client:
        run = client.get_run(run_id)
    print_run(run)


def stream_logs(client: ApiClient, run_id: str, *, follow: bool, source: str = "job") -> str:
    """Write the run's output to stdout; with ``follow``, keep polling until the run has ended.

    Each answer is written as it comes; the loop asks again at once while there is more, and
    waits ``POLL_SECONDS`` only when it has caught up. Returns the last state the API reported.
    """
    offset = 0
    while True:
        chunk = client.get_logs(run_id, offset, source)
        if chunk.text:
            typer.echo(chunk.text, nl=False)
        caught_up = chunk.next_offset <= offset
        offset = max(offset, chunk.next_offset)
        if not caught_up:
            continue
        if not follow or chunk.state in TERMINAL_STATES:
            return chunk.state
        time.sleep(POLL_SECONDS)


@runs_app.command("logs")
def run_logs(
    ctx: typer.Context,
    run_id: RunId,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new output until the run ends.")
    ] = False,
    build: Annotated[
        bool, typer.Option("--build", help="The image build's log instead of the job's.")
    ] = False,
) -> None:
    """Print a run's output so far, or follow it to the end with -f."""
    with client_from(ctx) as client:
        state = stream_logs(client, run_id, follow=follow, source="build" if build else "job")
    if follow:
        typer.echo(f"run {run_id} {state}", err=True)


@runs_app.command("stop")
def stop_run(ctx: typer.Context, run_id: RunId) -> None:
    """Ask a run to stop (a queued run is cancelled)."""
    with client_from(ctx) as client:
        run = client.stop_run(run_id)
    typer.echo(f"stop requested for run {run_id} (state: {run.get('state', '?')})")
