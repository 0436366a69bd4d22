"""What the CLI prints: listings (``-o table|json|plain``), detail views and timestamps.

A listing is declared once as columns; the three formats come from that one declaration, so
``plain`` and ``table`` always agree. ``table`` is for people: on a terminal it fits the width
(whole columns are dropped, least useful first, and names are shortened before a state is ever
cut), states are coloured, and piped it draws no box. ``plain`` is for ``cut``/``awk``: a header
and tab-separated rows. ``json`` is the API's own answer, one document, for ``jq``.

Times are shown in UTC and say so (``2026-01-02 03:04:05 UTC``): a server and its users are
often in different zones, and one zone makes listings from different machines comparable.

rich is imported inside the functions that draw, not with this module: every command imports
this module (for ``-o``'s choices), and rich's console costs about a third of the CLI's start.
Output that is not a terminal (a pipe, a file) needs no rich at all: listings (and the ``... show`` views of
``launchq.cli.show``) are then aligned text from ``launchq.cli.text_table``, the same cells without a box.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from launchq.cli import text_table

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

JsonObject = dict[str, Any]
_PIPE_WIDTH = 200
_SHRINK_FLOOR = 10  # a shortened name keeps at least this many cells
_GAP = 2  # cells between two columns of a listing table (one padding cell and the blank rule)


def _console_class() -> type[Console]:
    """rich's ``Console``, imported without attrs: ``rich.pretty`` imports attrs only to
    pretty-print attrs classes (launchq prints none), a fifth of rich's import time. attrs is
    marked absent for that one import and the mark removed at once: a later ``import attr`` works."""
    hide = "rich.console" not in sys.modules and "attr" not in sys.modules
    if hide:
        sys.modules["attr"] = None  # type: ignore[assignment]
    try:
        from rich.console import Console
    finally:
        if hide and sys.modules.get("attr", ...) is None:
            del sys.modules["attr"]
    return Console


def console() -> Console:
    """A console on the current stdout; wide when piped, so ids are never cut to fit 80 columns."""
    rich_console = _console_class()

    # markup off: names, reasons and log text may contain "[...]" that is not rich markup.
    if sys.stdout.isatty():
        return rich_console(highlight=False, markup=False)
    return rich_console(width=_PIPE_WIDTH, highlight=False, markup=False)


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def timestamp(value: Any) -> str:
    """``2024-05-01T14:00:00.123+02:00`` → ``2024-05-01 12:00:00 UTC``; anything else as given."""
    if not isinstance(value, str):
        return cell(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:  # the API always sends a zone; a naive time is said as it came
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _moment(value: Any) -> datetime | None:
    """An ISO time with a zone, or None."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def local_time(value: Any) -> str:
    """An ISO time in this machine's zone, naming it (``2026-01-02 04:04:05 CET``): for the ETA,
    which a user reads against their own clock."""
    moment = _moment(value)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z") if moment else cell(value)


def time_left(value: Any, now: datetime | None = None) -> str:
    """``in ~12 min`` until an ISO time (``any moment now`` once it has passed)."""
    moment = _moment(value)
    if moment is None:
        return cell(value)
    seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    if seconds <= 0:
        return "any moment now"
    if seconds < 60:
        return "in <1 min"
    minutes = round(seconds / 60)
    return f"in ~{minutes} min" if minutes < 120 else f"in ~{minutes / 60:.1f} h"


def waiting_reason(run: JsonObject) -> str:
    waiting = run.get("waiting")
    return cell(waiting.get("reason")) if isinstance(waiting, dict) else "-"


def max_jobs_text(value: Any) -> str:
    return "unlimited" if value == -1 else cell(value)


# -- listings ---------------------------------------------------------------------------------
class OutputFormat(StrEnum):
    """``-o``: a table for people, tab-separated lines for scripts, or the API's JSON."""

    TABLE = "table"
    JSON = "json"
    PLAIN = "plain"


@dataclass(frozen=True)
class Column:
    """One column of a listing.

    ``drop``: 0 = always shown; else its turn to go when a terminal is too narrow for every
    column (1 goes first). ``shrink``: the column may be shortened (with "…") to make room.
    ``style``: the rich style of a cell given its text (colour only reaches a terminal).
    """

    header: str
    value: Callable[[JsonObject], str]
    drop: int = 0
    shrink: bool = False
    style: Callable[[str], str] | None = None


@dataclass(frozen=True)
class Listing:
    """A ``... list`` command's output: the API's list key, its columns, and what to say for none."""

    key: str
    columns: tuple[Column, ...]
    empty: str


def _field(name: str) -> Callable[[JsonObject], str]:
    return lambda item: cell(item.get(name))


def _time_field(name: str) -> Callable[[JsonObject], str]:
    return lambda item: timestamp(item.get(name))


_STATE_STYLES = {
    "queued": "cyan",
    "claimed": "blue",
    "building": "blue",
    "starting": "blue",
    "running": "bold blue",
    "finished": "green",
    "failed": "bold red",
    "dead_letter": "bold red",
    "preempted": "yellow",
    "stopping": "yellow",
    "stopped": "magenta",
    "cancelled": "magenta",
}


def _state_style(state: str) -> str:
    return _STATE_STYLES.get(state, "")


QUEUES = Listing(
    key="queues",
    columns=(
        Column("name", _field("name")),
        Column("resource", _field("resource")),
        Column("max_jobs", lambda queue: max_jobs_text(queue.get("max_jobs")), drop=2),
        Column("active", _field("active"), drop=1),
        Column("queued", _field("queued")),
    ),
    empty="no queues yet; create one with `launchq queue create NAME --resource R`",
)

RUNS = Listing(
    key="runs",
    columns=(
        Column("id", _field("id")),
        Column("queue", _field("queue"), drop=3),
        Column("name", _field("name"), shrink=True),
        Column("state", _field("state"), style=_state_style),
        Column("priority", _field("priority"), drop=2),
        Column("position", _field("position"), drop=4),
        Column("exit_code", _field("exit_code"), drop=1),
        Column("waiting", waiting_reason, drop=6, shrink=True),
        Column("eta", lambda run: time_left(run.get("eta")), drop=1),
        Column("created", _time_field("created_at"), drop=5),
    ),
    empty="no runs",
)

SCHEDULES = Listing(
    key="schedules",
    columns=(
        Column("name", _field("name")),
        Column("queue", _field("queue"), drop=2),
        Column("cron", _field("cron")),
        Column("next_fire_at", _time_field("next_fire_at"), drop=1),
        Column("last_run_id", _field("last_run_id"), drop=3),
    ),
    empty="no schedules",
)


def job_source(job: JsonObject) -> str:
    source = job.get("source") or {}
    ref = source.get("docker_image") or source.get("code") or source.get("uri")
    version = source.get("git_version")
    return f"{cell(ref)}@{version}" if version else cell(ref)


def _job_entry_point(job: JsonObject) -> str:
    return shlex.join(job.get("entry_point") or []) or "-"


JOBS = Listing(
    key="jobs",
    columns=(
        Column("name", _field("name")),
        Column("version", lambda job: f"v{job['version']}" if job.get("version") else "-"),
        Column("source", job_source, shrink=True),
        Column(
            "entry_point", lambda job: shlex.join(job.get("entry_point") or []) or "-", drop=2, shrink=True
        ),
        Column("created", _time_field("created_at"), drop=1),
    ),
    empty="no jobs yet; create one with `launchq job create NAME -u DIR -E CMD`",
)


def _fit(columns: Sequence[Column], rows: list[list[str]], width: int) -> list[int]:
    """The indexes of the columns to show in ``width`` cells: every column while they fit,
    else the droppable ones go in ``drop`` order, counting shrinkable ones at their floor."""
    from rich.cells import cell_len

    floors = []
    for index, col in enumerate(columns):
        natural = max([cell_len(col.header)] + [cell_len(row[index]) for row in rows])
        floors.append(min(natural, max(_SHRINK_FLOOR, cell_len(col.header))) if col.shrink else natural)
    kept = list(range(len(columns)))
    droppable = sorted((i for i, col in enumerate(columns) if col.drop), key=lambda i: columns[i].drop)
    while droppable and sum(floors[i] for i in kept) + _GAP * (len(kept) - 1) > width:
        kept.remove(droppable.pop(0))
    return kept


def _table(columns: Sequence[Column], rows: list[list[str]], *, tty: bool) -> Table:
    """A table of ``rows``: a rule under the header on a terminal, no box at all when piped."""
    from rich import box
    from rich.table import Table

    table = Table(
        box=box.SIMPLE_HEAD if tty else None,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
        header_style="bold",
    )
    for col in columns:
        # only shrinkable columns may wrap: rich narrows wrappable columns first, the others never
        table.add_column(col.header, no_wrap=not col.shrink, overflow="ellipsis" if col.shrink else "fold")
    for row in rows:
        cells = zip(columns, row, strict=True)
        table.add_row(*(_text(col, text) for col, text in cells))
    return table


def _text(col: Column, text: str) -> Text | str:
    """A cell: styled; a shortened one stays on one line, cut with "…" (a long waiting reason
    wrapped over ten lines would hide the listing)."""
    from rich.text import Text

    style = col.style(text) if col.style else ""
    if col.shrink:
        return Text(text, style=style, no_wrap=True, overflow="ellipsis")
    return Text(text, style=style) if col.style else text


def listing_table(listing: Listing, items: list[JsonObject], *, width: int | None, tty: bool) -> Table:
    """``listing`` as a rich table; with a ``width``, only the columns that fit it (see ``_fit``)."""
    rows = [[col.value(item) for col in listing.columns] for item in items]
    kept = list(range(len(listing.columns))) if width is None else _fit(listing.columns, rows, width)
    return _table([listing.columns[i] for i in kept], [[row[i] for i in kept] for row in rows], tty=tty)


def _plain_cell(text: str) -> str:
    return " ".join(text.split()) or "-"  # a tab or newline inside a value must not make a column


def listing_plain(listing: Listing, items: list[JsonObject]) -> str:
    """A header line and one tab-separated line per item, as the table shows them, never cut."""
    lines = ["\t".join(col.header for col in listing.columns)]
    lines += ["\t".join(_plain_cell(col.value(item)) for col in listing.columns) for item in items]
    return "\n".join(lines) + "\n"


def print_listing(
    listing: Listing,
    items: list[JsonObject],
    output: OutputFormat = OutputFormat.TABLE,
    limit: int | None = None,
) -> None:
    """Print a ``... list`` answer in the chosen format, at most ``limit`` items of it.

    ``json`` always prints one document (``{"runs": []}`` when there are none), so a script can
    parse it; an empty table or plain listing says so on stderr and leaves stdout empty of rows.
    """
    shown = items[:limit] if limit is not None else items
    if output is OutputFormat.JSON:
        sys.stdout.write(json.dumps({listing.key: shown}, indent=2) + "\n")
        return
    if not shown:
        print(listing.empty, file=sys.stderr)
    if output is OutputFormat.PLAIN:
        sys.stdout.write(listing_plain(listing, shown))
    elif shown and not text_table.for_terminal():  # piped: aligned text, rich not imported
        rows = [[_plain_cell(col.value(item)) for col in listing.columns] for item in shown]
        sys.stdout.write(text_table.aligned([[col.header for col in listing.columns], *rows]))
    elif shown:
        out = console()
        tty = out.is_terminal
        out.print(listing_table(listing, shown, width=out.width if tty else None, tty=tty))
