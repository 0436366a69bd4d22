"""What the listings print: ``-o table|json|plain``, ``--limit``, terminal fitting, colours,
times with their zone, help that shows defaults, and a bad name explained in words."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from launchq.cli.main import app
from launchq.cli.options import NAME_IN_WORDS
from launchq.cli.render import JOBS, RUNS, listing_table
from launchq.domain.models import NAME_RULE
from tests.unit.cli_fake_server import FakeApi, cli, run_record

STATES = ["queued", "running", "finished", "failed", "stopped", "cancelled", "dead_letter"]
BOX_DRAWING = re.compile("[\u2500-\u257f]")
ANSI = re.compile(r"\x1b\[[0-9;]*m")

QUEUES = [
    {"name": name, "resource": "local-process", "max_jobs": jobs, "active": 0, "queued": 0}
    for name, jobs in [("alpha", 1), ("beta", -1), ("gamma", 4)]
]


def _runs() -> list[dict[str, Any]]:
    """One run in every state a user sees, with a long name, as ``GET /runs`` answers."""
    return [
        run_record(f"{index:016x}", state=state, name=f"nightly-evaluation-of-model-{index}",
                   position=1 if state == "queued" else None, exit_code=3 if state == "failed" else None)
        for index, state in enumerate(STATES)
    ]  # fmt: skip


def _table_at(width: int, runs: list[dict[str, Any]]) -> str:
    """The runs table as a terminal of ``width`` columns shows it (no colours, to read it)."""
    out = io.StringIO()
    terminal = Console(file=out, width=width, force_terminal=True, color_system=None, markup=False)
    terminal.print(listing_table(RUNS, runs, width=width, tty=True))
    return out.getvalue()


# -- -o json / plain / table ------------------------------------------------------------------
def test_json_output_is_the_apis_document(fake: FakeApi) -> None:
    # GIVEN the API lists runs, queues and schedules
    runs = _runs()
    schedules = [{"name": "nightly", "queue": "alpha", "cron": "0 3 * * *", "next_fire_at": None}]
    fake.reply("GET", "/runs", 200, {"runs": runs})
    fake.reply("GET", "/queues", 200, {"queues": QUEUES})
    fake.reply("GET", "/schedules", 200, {"schedules": schedules})

    # WHEN each listing is asked for JSON
    listed = {kind: cli(fake, kind_cmd, "list", "-o", "json") for kind, kind_cmd in
              [("runs", "runs"), ("queues", "queue"), ("schedules", "schedule")]}  # fmt: skip

    # THEN each prints exactly the API's answer, one document, nothing on stderr
    for kind, expected in [("runs", runs), ("queues", QUEUES), ("schedules", schedules)]:
        assert listed[kind].exit_code == 0, listed[kind].output
        assert json.loads(listed[kind].stdout) == {kind: expected}
        assert listed[kind].stderr == ""


def test_json_output_of_nothing_is_still_a_document(fake: FakeApi) -> None:
    fake.reply("GET", "/runs", 200, {"runs": []})

    result = cli(fake, "runs", "list", "--output", "json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"runs": []}


def test_plain_output_is_a_header_and_tab_separated_rows(fake: FakeApi) -> None:
    # GIVEN a run whose name holds a tab and a newline
    runs = [run_record("r1", name="two\twords\nhere", state="failed", exit_code=3)]
    fake.reply("GET", "/runs", 200, {"runs": runs})

    # WHEN listed as plain
    result = cli(fake, "runs", "list", "-o", "plain")

    # THEN a header, then one line of exactly as many fields, times with their zone, no box
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()
    assert header.split("\t") == [
        "id", "queue", "name", "state", "priority", "position", "exit_code", "waiting", "eta", "created",
    ]  # fmt: skip
    assert row.split("\t") == [
        "r1", "gpu", "two words here", "failed", "medium", "-", "3", "-", "-", "2026-01-02 03:04:05 UTC",
    ]  # fmt: skip


def test_plain_output_of_nothing_is_the_header_alone(fake: FakeApi) -> None:
    fake.reply("GET", "/queues", 200, {"queues": []})

    result = cli(fake, "queue", "list", "-o", "plain")

    assert result.exit_code == 0, result.output
    assert result.stdout == "name\tresource\tmax_jobs\tactive\tqueued\n"
    assert "no queues yet" in result.stderr


def test_an_unknown_output_format_is_one_line_naming_the_choices(fake: FakeApi) -> None:
    result = cli(fake, "runs", "list", "-o", "yaml")

    assert result.exit_code == 2
    assert "'yaml' is not one of 'table', 'json', 'plain'" in result.stderr
    assert fake.requests == []


def test_a_piped_table_has_no_box_and_no_colour(fake: FakeApi) -> None:
    fake.reply("GET", "/runs", 200, {"runs": _runs()})

    result = cli(fake, "runs", "list")

    assert result.exit_code == 0, result.output
    assert not BOX_DRAWING.search(result.stdout), result.stdout
    assert not ANSI.search(result.stdout)
    rows = result.stdout.splitlines()[1:]
    assert [row.split()[3] for row in rows] == STATES  # every column, every state whole
    assert all(row.endswith("2026-01-02 03:04:05 UTC") for row in rows)


# -- --limit ----------------------------------------------------------------------------------
def test_runs_limit_is_asked_of_the_api(fake: FakeApi) -> None:
    fake.reply("GET", "/runs", 200, {"runs": _runs()[:2]})

    result = cli(fake, "runs", "list", "-q", "gpu", "--limit", "2", "-o", "json")

    assert result.exit_code == 0, result.output
    assert fake.requests[0].query == {"queue": ["gpu"], "limit": ["2"]}
    assert len(json.loads(result.stdout)["runs"]) == 2


@pytest.mark.parametrize("output", ["table", "plain", "json"])
def test_queue_and_schedule_lists_keep_the_first_limit_items(fake: FakeApi, output: str) -> None:
    fake.reply("GET", "/queues", 200, {"queues": QUEUES})

    result = cli(fake, "queue", "list", "--limit", "2", "-o", output)

    assert result.exit_code == 0, result.output
    assert "alpha" in result.stdout
    assert "beta" in result.stdout
    assert "gamma" not in result.stdout


@pytest.mark.parametrize("limit", ["0", "-3", "10001", "many"])
def test_a_bad_limit_is_refused_before_asking(fake: FakeApi, limit: str) -> None:
    result = cli(fake, "runs", "list", "--limit", limit)

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Invalid value for '--limit'")
    assert fake.requests == []


# -- fitting a terminal -----------------------------------------------------------------------
@pytest.mark.parametrize("width", [120, 100, 80, 60, 48])
def test_the_runs_table_fits_the_terminal_and_never_cuts_a_state(width: int) -> None:
    runs = _runs()

    table = _table_at(width, runs)

    lines = table.splitlines()
    assert all(len(line) <= width for line in lines), table
    for run, line in zip(runs, lines[2:], strict=True):
        cells = line.split()
        assert cells[0] == run["id"]  # the id whole
        assert run["state"] in cells  # the state whole, as a word of its own
    assert "…" not in "".join(line.split()[0] for line in lines[2:])


def test_columns_go_in_order_as_the_terminal_narrows() -> None:
    headers = {width: _table_at(width, _runs()).splitlines()[0].split() for width in (130, 100, 80, 48)}

    assert headers[130] == [
        "id", "queue", "name", "state", "priority", "position", "exit_code", "waiting", "eta", "created",
    ]  # fmt: skip
    assert headers[100] == ["id", "queue", "name", "state", "position", "waiting", "created"]
    assert headers[80] == ["id", "name", "state", "waiting", "created"]
    assert headers[48] == ["id", "name", "state"]


def test_names_are_shortened_before_anything_else_is_cut() -> None:
    table = _table_at(80, _runs())

    assert "nightly-evaluation-of-model-0" not in table
    assert re.search(r"^0{16}  nightly-eval\S*…  queued ", table, re.M)  # shortened, not wrapped


def test_states_are_coloured_on_a_terminal_only() -> None:
    out = io.StringIO()
    terminal = Console(file=out, width=120, force_terminal=True, color_system="standard", markup=False)

    terminal.print(listing_table(RUNS, _runs(), width=120, tty=True))

    assert re.search(r"\x1b\[[0-9;]*31mfailed", out.getvalue())  # red
    assert re.search(r"\x1b\[[0-9;]*32mfinished", out.getvalue())  # green


def test_the_job_listing_shows_source_and_version() -> None:
    job = {"name": "train", "version": 3, "source": {"uri": "https://github.com/a/b", "git_version": "main"},
           "entry_point": ["python", "train.py"], "created_at": "2026-01-02T03:04:05Z"}  # fmt: skip

    line = _table_for_jobs([job]).splitlines()[2]

    assert line.split() == ["train", "v3", "https://github.com/a/b@main", "python", "train.py",
                            "2026-01-02", "03:04:05", "UTC"]  # fmt: skip


def _table_for_jobs(jobs: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    Console(file=out, width=200, force_terminal=True, color_system=None).print(
        listing_table(JOBS, jobs, width=200, tty=True)
    )
    return out.getvalue()


# -- help and names ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (["runs", "list"], ["[default: table]", "[default: (1000); 1<=x<=10000]", "table|json|plain"]),
        (["queue", "list"], ["[default: table]", "[default: (all); 1<=x<=10000]"]),
        (["schedule", "list"], ["[default: table]", "[default: (all); 1<=x<=10000]"]),
    ],
)
def test_listing_help_shows_the_defaults(command: list[str], shown: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"}, terminal_width=200)

    assert result.exit_code == 0, result.output
    for text in shown:
        assert text in result.stdout


def test_a_bad_queue_name_says_what_is_allowed_in_words(server: str) -> None:
    # WHEN a queue is created with a space and a '!' in its name, against a real launchq serve
    result = CliRunner().invoke(app, ["--url", server, "queue", "create", "my queue!", "-r", "local-process"])

    # THEN one line names the field and the rule in words, not the regular expression
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: name: 'my queue!' is not allowed: use 1 to 63 characters: letters, digits, '_', "
        "'.' or '-', starting with a letter or digit\n"
    )
    assert [q["name"] for q in httpx.get(f"{server}/queues").json()["queues"]] == ["default"]


def test_the_cli_help_states_the_same_name_rule_as_the_api() -> None:
    result = CliRunner().invoke(app, ["queue", "show", "--help"], env={"COLUMNS": "300"}, terminal_width=300)

    assert NAME_IN_WORDS == NAME_RULE
    assert f"Queue name: {NAME_RULE}." in result.stdout


def test_no_help_text_hides_a_default_from_rich() -> None:
    # rich reads a hand-written "[default: ...]" in help as markup and deletes it: defaults go
    # through typer's show_default, which prints them itself
    import click
    import typer.main

    def walk(command: click.Command) -> Iterator[click.Command]:
        yield command
        for sub in getattr(command, "commands", {}).values():
            yield from walk(sub)

    group = typer.main.get_command(app)
    hidden = [
        (command.name, param.name)
        for command in walk(group)
        for param in command.params
        if "[default" in (getattr(param, "help", "") or "")
    ]
    assert hidden == []
