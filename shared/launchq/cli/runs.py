"""``launchq runs ...``: list, show, read or follow the output of, and stop runs."""

import time
from typing import Annotated

import typer

from launchq.cli.client import ApiClient
from launchq.cli.errors import CliError
from launchq.cli.options import Output, RunsLimit, client_from
from launchq.cli.render import RUNS, OutputFormat, print_listing
from launchq.cli.show import print_run
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
    """Print a run's output so far, or follow it to the end with -f: while it waits, a status
    line on stderr; then exit 0 if it finished, the job's exit code (else 1) if it failed,
    143 if it was stopped or cancelled, 125 if it could not be launched."""
    source = "build" if build else "job"
    with client_from(ctx) as client:
        if not follow:
            stream_logs(client, run_id, follow=False, source=source)
            return
        from launchq.cli.follow import follow_run

        code = follow_run(client, run_id, source=source, poll_seconds=POLL_SECONDS)
    raise typer.Exit(code)


@runs_app.command("stop")
def stop_run(
    ctx: typer.Context,
    run_id: Annotated[
        str | None, typer.Argument(help="Run id, as `launchq launch` printed it; or give --queue.")
    ] = None,
    queue: Annotated[
        str | None,
        typer.Option("--queue", "-q", help="Stop the runs of this queue instead of one run."),
    ] = None,
    states: Annotated[
        list[str] | None,
        typer.Option(
            "--state",
            metavar="STATE",
            help="With --queue: only runs in this state (repeat for more), e.g. queued.",
            show_default="every state not ended",
        ),
    ] = None,
) -> None:
    """Ask a run to stop (a queued run is cancelled), or with -q every run of a queue."""
    if (run_id is None) == (queue is None):
        raise CliError("runs stop: give either a RUN_ID or --queue QUEUE (see 'launchq runs stop --help')")
    if queue is None:
        if states:
            raise CliError("runs stop: --state only goes with --queue (see 'launchq runs stop --help')")
        with client_from(ctx) as client:
            run = client.stop_run(str(run_id))
        typer.echo(f"stop requested for run {run_id} (state: {run.get('state', '?')})")
        return
    with client_from(ctx) as client:
        answer = client.stop_runs(queue, states or None)
    count = answer.get("count", 0)
    typer.echo(f"stopped {count} run{'' if count == 1 else 's'} of queue {queue}")


@runs_app.command("replay")
def replay_run(ctx: typer.Context, run_id: RunId) -> None:
    """Put a dead-lettered run back in line at its place, as a new attempt
    (find them with: launchq runs list --state dead_letter)."""
    with client_from(ctx) as client:
        run = client.replay_run(run_id)
    where = f" at position {run['position']}" if run.get("position") is not None else ""
    typer.echo(f"run {run_id} replayed: back in line{where} in queue {run.get('queue', '?')}")
