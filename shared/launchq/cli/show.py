"""The ``... show`` views (``runs show``, ``queue show``, ``job describe``): a run's or a queue's
fields as two aligned columns, then its config as YAML and a run's events as a table.

On a terminal rich draws them; piped or redirected they are plain aligned text
(``launchq.cli.text_table``), so rich is never imported for a script. Cells and times come
from ``launchq.cli.render``, so a value reads the same in a listing and in a view.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from launchq.cli import text_table
from launchq.cli.render import (
    JsonObject,
    cell,
    console,
    local_time,
    max_jobs_text,
    time_left,
    timestamp,
    waiting_reason,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = ["details", "events_table", "print_queue", "print_run", "print_section", "show_console", "to_yaml"]


def to_yaml(value: Any) -> str:
    """Block-style YAML, keys in the order the API sent them."""
    import yaml  # only when a run or queue is shown: ~40 ms of every command's start otherwise

    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False, allow_unicode=True).rstrip()


def show_console() -> Console | text_table.PlainConsole:
    """What a ``... show`` view prints on: rich's console on a terminal, plain text otherwise."""
    return console() if text_table.for_terminal() else text_table.PlainConsole()


def details(rows: list[tuple[str, Any]]) -> Table | text_table.Grid:
    """Two columns, a bold key and its value (folded when long), for ``... show``; not on a
    terminal, aligned text (rich not imported)."""
    if not text_table.for_terminal():
        return text_table.Grid([[key, cell(value)] for key, value in rows], gap=2)
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for key, value in rows:
        grid.add_row(key, cell(value))
    return grid


def print_queue(queue: JsonObject) -> None:
    """``queue show``: the settings, then config and template variables as YAML."""
    out = show_console()
    out.print(
        details(
            [
                ("name", queue.get("name")),
                ("entity", queue.get("entity")),
                ("resource", queue.get("resource")),
                ("dispatch", queue.get("dispatch")),
                ("max_jobs", max_jobs_text(queue.get("max_jobs"))),
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
        print_section(out, key, queue.get(key) or {})


def print_section(out: Console | text_table.PlainConsole, key: str, value: Any) -> None:
    """A bold ``key:`` heading after a blank line, then ``value`` as YAML."""
    out.print(f"\n{key}:", style="bold")
    out.print(to_yaml(value))


def events_table(events: list[JsonObject]) -> Table | text_table.Grid:
    """The state transitions of one run, oldest first, each with its reason (not on a terminal:
    aligned text under the title, no box)."""
    rows = [
        [timestamp(event.get("at")), *(cell(event.get(key)) for key in ("from_state", "to_state", "reason"))]
        for event in events
    ]
    if not text_table.for_terminal():
        return text_table.Grid([["at", "from", "to", "reason"], *rows], title="events")
    from rich.table import Table

    table = Table("at", "from", "to", "reason", title="events", title_justify="left")
    for row in rows:
        table.add_row(*row)
    return table


def print_run(run: JsonObject) -> None:
    """``runs show``: the run's fields, what it runs, resolved resource args, and its events."""
    spec = run.get("spec") or {}
    out = show_console()
    out.print(
        details(
            [
                ("id", run.get("id")),
                ("queue", run.get("queue")),
                ("entity", run.get("entity")),
                ("project", run.get("project")),
                ("name", run.get("name")),
                ("job", run.get("job")),
                ("state", run.get("state")),
                ("priority", run.get("priority")),
                ("position", run.get("position")),
                ("exit_code", run.get("exit_code")),
                ("reason", run.get("reason")),
                *([("waiting", waiting_reason(run))] if run.get("waiting") else []),
                *([("eta", f"{local_time(run['eta'])} ({time_left(run['eta'])})")] if run.get("eta") else []),
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
        print_section(out, "resolved", run["resolved"])
    out.print()
    out.print(events_table(run.get("events") or []))
