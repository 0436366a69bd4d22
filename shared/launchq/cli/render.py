"""Rich tables and detail views for queues, runs and schedules as the API returns them."""

from __future__ import annotations

import shlex
import sys
from datetime import UTC, datetime
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

JsonObject = dict[str, Any]
_PIPE_WIDTH = 200


def console() -> Console:
    """A console on the current stdout; wide when piped, so ids are never cut to fit 80 columns."""
    # markup off: names, reasons and log text may contain "[...]" that is not rich markup.
    if sys.stdout.isatty():
        return Console(highlight=False, markup=False)
    return Console(width=_PIPE_WIDTH, highlight=False, markup=False)


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def timestamp(value: Any) -> str:
    """``2024-05-01T14:00:00.123+02:00`` → ``2024-05-01 12:00:00`` (UTC); anything else as given."""
    if not isinstance(value, str):
        return _cell(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _max_jobs(value: Any) -> str:
    return "unlimited" if value == -1 else _cell(value)


def to_yaml(value: Any) -> str:
    """Block-style YAML, keys in the order the API sent them."""
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False, allow_unicode=True).rstrip()


def _details(rows: list[tuple[str, Any]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for key, value in rows:
        grid.add_row(key, _cell(value))
    return grid


def queues_table(queues: list[JsonObject]) -> Table:
    """``queue list``: name, resource, max_jobs, active, queued."""
    table = Table("name", "resource", "max_jobs", "active", "queued")
    for queue in queues:
        table.add_row(
            _cell(queue.get("name")),
            _cell(queue.get("resource")),
            _max_jobs(queue.get("max_jobs")),
            _cell(queue.get("active")),
            _cell(queue.get("queued")),
        )
    return table


def print_queue(queue: JsonObject) -> None:
    """``queue show``: the settings, then config and template variables as YAML."""
    out = console()
    out.print(
        _details(
            [
                ("name", queue.get("name")),
                ("entity", queue.get("entity")),
                ("resource", queue.get("resource")),
                ("dispatch", queue.get("dispatch")),
                ("max_jobs", _max_jobs(queue.get("max_jobs"))),
                ("prioritization", queue.get("prioritization")),
                ("allow_overrides", queue.get("allow_overrides")),
                ("active", queue.get("active")),
                ("queued", queue.get("queued")),
                ("created", timestamp(queue.get("created_at"))),
                ("version", queue.get("version")),
            ]
        )
    )
    for key in ("config", "template_variables"):
        out.print(Text(f"\n{key}:", style="bold"))
        out.print(to_yaml(queue.get(key) or {}))


def runs_table(runs: list[JsonObject]) -> Table:
    """``runs list``: id, queue, name, state, priority, position, exit_code, created."""
    table = Table("id", "queue", "name", "state", "priority", "position", "exit_code", "created")
    table.columns[0].no_wrap = True
    for run in runs:
        table.add_row(
            _cell(run.get("id")),
            _cell(run.get("queue")),
            _cell(run.get("name")),
            _cell(run.get("state")),
            _cell(run.get("priority")),
            _cell(run.get("position")),
            _cell(run.get("exit_code")),
            timestamp(run.get("created_at")),
        )
    return table


def events_table(events: list[JsonObject]) -> Table:
    """The state transitions of one run, oldest first, each with its reason."""
    table = Table("at", "from", "to", "reason", title="events", title_justify="left")
    for event in events:
        table.add_row(
            timestamp(event.get("at")),
            _cell(event.get("from_state")),
            _cell(event.get("to_state")),
            _cell(event.get("reason")),
        )
    return table


def print_run(run: JsonObject) -> None:
    """``runs show``: the run's fields, what it runs, resolved resource args, and its events."""
    spec = run.get("spec") or {}
    out = console()
    out.print(
        _details(
            [
                ("id", run.get("id")),
                ("queue", run.get("queue")),
                ("entity", run.get("entity")),
                ("project", run.get("project")),
                ("name", run.get("name")),
                ("state", run.get("state")),
                ("priority", run.get("priority")),
                ("position", run.get("position")),
                ("exit_code", run.get("exit_code")),
                ("reason", run.get("reason")),
                ("uri", spec.get("uri")),
                ("git_version", spec.get("git_version")),
                ("docker_image", spec.get("docker_image")),
                ("entry_point", shlex.join(spec.get("entry_point") or []) or None),
                ("args", shlex.join(spec.get("args") or []) or None),
                ("created", timestamp(run.get("created_at"))),
                ("started", timestamp(run.get("started_at"))),
                ("finished", timestamp(run.get("finished_at"))),
                ("updated", timestamp(run.get("updated_at"))),
            ]
        )
    )
    if run.get("resolved"):
        out.print(Text("\nresolved:", style="bold"))
        out.print(to_yaml(run["resolved"]))
    out.print()
    out.print(events_table(run.get("events") or []))


def schedules_table(schedules: list[JsonObject]) -> Table:
    """``schedule list``: name, queue, cron, next fire time, last run."""
    table = Table("name", "queue", "cron", "next_fire_at", "last_run_id")
    for schedule in schedules:
        table.add_row(
            _cell(schedule.get("name")),
            _cell(schedule.get("queue")),
            _cell(schedule.get("cron")),
            timestamp(schedule.get("next_fire_at")),
            _cell(schedule.get("last_run_id")),
        )
    return table
