"""What a ``launchq`` start imports, and that the shortcuts taken for it change no answer.

The CLI starts fast by not importing what a command does not use: the command groups load
when invoked (``launchq.cli.group``), rich only draws (``cli/render.py``), httpx comes with the
first client, and typer's pydantic-based option coercion is asked only for values that need
converting (``cli/options.py``). Each start here is a fresh interpreter running the console
script's ``main()``, as a user's shell would, and lists what it loaded.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
import typer.main
from typer._coercion import build_runtime_param, resolve_type_descriptor
from typer.models import OptionInfo
from typer.testing import CliRunner

from launchq.cli.auth import AuthMode
from launchq.cli.errors import CliError
from launchq.cli.group import GROUPS
from launchq.cli.main import app
from launchq.cli.options import _TYPER, _as_given
from launchq.cli.render import OutputFormat
from tests.servers import free_port, launchq_serve

WATCHED = (
    "pydantic",
    "httpx",
    "http.client",
    "ssl",
    "email",
    "rich",
    "boto3",
    "botocore",
    "launchq.domain.priority",
    "launchq.config",
    "yaml",
    "rich.console",
    "typer.rich_utils",
    "launchq.build",
    "launchq.local",
    "launchq.domain.models",
    "launchq.cli.inputs",
    *(module for module, _, _ in GROUPS.values()),
)

START_THEN_LIST_MODULES = f"""
import sys
from launchq.cli.main import main
sys.argv = ["launchq", *sys.argv[1:]]
try:
    main()
except SystemExit as end:
    print("exit:", end.code)
print("loaded:", *[m for m in {WATCHED!r} if m in sys.modules])
"""


def start(tmp_path: Path, *argv: str) -> tuple[list[str], str, str]:
    """Run ``launchq ARGV`` in a fresh interpreter with nothing listening at LAUNCHQ_URL:
    the watched modules it loaded, its exit line and its stderr."""
    env = {**os.environ, "LAUNCHQ_URL": f"http://127.0.0.1:{free_port()}", "NO_COLOR": "1"}
    env.pop("LAUNCHQ_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-c", START_THEN_LIST_MODULES, *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    *_, exit_line, loaded_line = done.stdout.splitlines()
    return loaded_line.split()[1:], exit_line, done.stderr


def test_help_loads_no_group_no_http_client_and_no_pydantic(tmp_path: Path) -> None:
    # WHEN the top-level help is asked for
    loaded, exit_line, _ = start(tmp_path, "--help")

    # THEN it lists every group, by the help declared in GROUPS, having imported none of them,
    # and no rich: the help is click's plain help
    assert exit_line == "exit: 0"
    assert loaded == []


def test_help_still_lists_every_group(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "launchq.cli.main", "--help"],
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    for name, (_, _, help_text) in GROUPS.items():
        assert f" {name} " in result.stdout
        assert help_text in result.stdout


def test_runs_list_help_loads_the_runs_group_only(tmp_path: Path) -> None:
    # WHEN a group's command's help is asked for
    loaded, exit_line, _ = start(tmp_path, "runs", "list", "--help")

    # THEN only that group's module came: no other group, no HTTP client, pydantic, rich,
    # launch's request building, build, server or AWS code
    assert exit_line == "exit: 0"
    assert loaded == ["launchq.cli.runs"]


def test_runs_list_against_nothing_loads_the_runs_group_and_the_socket_client_only(tmp_path: Path) -> None:
    # WHEN runs are listed and nothing listens
    loaded, exit_line, stderr = start(tmp_path, "runs", "list", "-o", "json", "--limit", "5")

    # THEN the one-line error comes from a real request (http.client: a plain http:// URL, so
    # no httpx), with no pydantic (not even typer's, for -o and --limit), no rich, no other
    # group, no yaml, no build, server or AWS code
    assert exit_line == "exit: 1"
    assert stderr.startswith("Error: cannot reach launchq at http://127.0.0.1:")
    assert loaded == ["http.client", "ssl", "email", "launchq.cli.runs"]


def test_launch_with_a_priority_and_an_inline_config_loads_no_pydantic(tmp_path: Path) -> None:
    # WHEN a run is launched with -P and a JSON -c, and nothing listens
    config = '{"overrides": {"args": ["--epochs", "2"]}, "resource_args": {"local-process": {}}}'
    loaded, exit_line, stderr = start(
        tmp_path, "launch", "-q", "default", "-u", ".", "-P", "high", "-c", config
    )

    # THEN the request was built (-c read by the server's own loader, which brings yaml) and
    # sent, without pydantic, the priority module, rich, an HTTP library or ssl
    assert exit_line == "exit: 1"
    assert stderr.startswith("Error: cannot reach launchq at")
    assert loaded == ["http.client", "ssl", "email", "launchq.config", "yaml", "launchq.cli.inputs"]


def test_the_priority_labels_read_here_are_the_domains() -> None:
    from launchq.cli.inputs import PRIORITY_LABELS, priority_label
    from launchq.domain.priority import Priority, parse_priority

    assert tuple(priority.label for priority in sorted(Priority)) == PRIORITY_LABELS
    for given in ["HIGH", " low", "0", "3", 2, "01", "4", "x", "+1", True]:
        try:
            expected: str | None = parse_priority(given).label
        except ValueError:
            expected = None
        try:
            answered: str | None = priority_label(given)
        except CliError:
            answered = None
        assert answered == expected, given


# -- what a start imports, as python -X importtime lists it, against a real server ------------
HEAVY = ("boto3", "botocore", "launchq.build", "rich", "httpx", "pydantic")


@pytest.fixture(scope="module")
def served_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real ``launchq serve --no-dispatch`` holding one queued run: its URL and the run's id."""
    examples = Path(__file__).resolve().parents[2] / "examples"
    with launchq_serve(tmp_path_factory.mktemp("imports") / "data", "--no-dispatch") as url:
        body = {"uri": str(examples), "entry_point": ["python", "train.py"], "name": "listed"}
        answer = httpx.post(f"{url}/queues/default/runs", json=body, timeout=30).raise_for_status()
        yield url, answer.json()["id"]


@pytest.fixture
def served(served_run: tuple[str, str]) -> str:
    return served_run[0]


def imported_by(url: str, cwd: Path, *argv: str) -> tuple[str, set[str]]:
    """``python -X importtime -m launchq.cli.main ARGV`` with stdout piped: its output and every
    module it imported (from importtime's report on stderr)."""
    env = {**os.environ, "LAUNCHQ_URL": url, "NO_COLOR": "1"}
    for name in ("LAUNCHQ_DEBUG", "LAUNCHQ_API_KEY", "LAUNCHQ_AUTH", "FORCE_COLOR", "TTY_COMPATIBLE"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "launchq.cli.main", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = [
        line.rpartition("|")[2].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    ]
    return done.stdout, set(report[1:])  # (the first line is the report's header)


def heavy_in(modules: set[str]) -> list[str]:
    return [name for name in HEAVY if any(m == name or m.startswith(f"{name}.") for m in modules)]


def test_a_piped_runs_list_imports_nothing_heavy(served: str, tmp_path: Path) -> None:
    # WHEN the runs are listed from a real server into a pipe
    output, modules = imported_by(served, tmp_path, "runs", "list")

    # THEN the table is there, aligned, and no SDK, build code, rich or httpx came (the
    # standard library's http.client did the exchange)
    header, row = output.splitlines()
    assert header.split()[:4] == ["id", "queue", "name", "state"]
    assert row.split()[1:4] == ["default", "listed", "queued"]
    assert header.index("state") == row.index("queued")
    assert "http.client" in modules
    assert heavy_in(modules) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["queue", "list"],
        ["runs", "list", "-o", "plain"],
        ["launch", "-q", "default", "-u", ".", "-E", "python train.py", "-P", "low", "--name", "again"],
    ],
)
def test_other_common_commands_import_nothing_heavy(argv: list[str], served: str, tmp_path: Path) -> None:
    output, modules = imported_by(served, tmp_path, *argv)

    assert output.strip()
    assert heavy_in(modules) == []


def test_launch_help_loads_neither_a_group_nor_pydantic(tmp_path: Path) -> None:
    loaded, exit_line, _ = start(tmp_path, "launch", "--help")

    # (launch's parser fills a bare -q from launchq.cli.inputs before --help is read)
    assert exit_line == "exit: 0"
    assert loaded == ["launchq.cli.inputs"]


def test_a_mistyped_group_still_gets_a_suggestion(tmp_path: Path) -> None:
    # WHEN a group's name is mistyped, before any group was loaded
    _, exit_line, stderr = start(tmp_path, "schedul", "list")

    # THEN typer's "did you mean" knows the groups not loaded yet
    assert exit_line == "exit: 2"
    assert stderr.startswith("Error: No such command 'schedul'. Did you mean 'schedule'?")


def test_a_value_typer_must_convert_still_goes_through_typer(tmp_path: Path) -> None:
    # WHEN --limit is out of range (typer's own check and message, through pydantic)
    loaded, exit_line, stderr = start(tmp_path, "runs", "list", "--limit", "0")

    assert exit_line == "exit: 2"
    assert "Invalid value for '--limit': Input should be greater than or equal to 1" in stderr
    assert "pydantic" in loaded


# -- the shortcuts answer as typer would ------------------------------------------------------
LIMIT = OptionInfo(min=1, max=10_000)
ANSWERED_HERE = [
    (str, OptionInfo(), "gpu"),
    (str, OptionInfo(), ""),
    (str, OptionInfo(), "[default: 1]"),
    (AuthMode, OptionInfo(), AuthMode.AWS_IAM),
    (AuthMode, OptionInfo(), "aws-iam"),
    (OutputFormat, OptionInfo(), OutputFormat.PLAIN),
    (OutputFormat, OptionInfo(), "json"),
    (OutputFormat, OptionInfo(case_sensitive=False), "JSON"),
    (int, OptionInfo(), "-3"),
    (int, OptionInfo(), "+5"),
    (int, LIMIT, "007"),
    (int, LIMIT, "1"),
    (int, LIMIT, "10000"),
    (list[str], OptionInfo(), ("--epochs", "5")),
    (list[str], OptionInfo(), ["a=b"]),
    (list[str], OptionInfo(), ()),
]
LEFT_TO_TYPER = [
    (AuthMode, OptionInfo(), "bogus"),
    (OutputFormat, OptionInfo(), "JSON"),  # case-sensitive: typer's error
    (int, LIMIT, "0"),
    (int, LIMIT, "10001"),
    (int, OptionInfo(), " 5"),
    (int, OptionInfo(), "1_000"),
    (int, OptionInfo(), "abc"),
    (int, OptionInfo(clamp=True, min=1), "0"),
    (int, OptionInfo(), 5),
    (float, OptionInfo(), "0.5"),
    (Path, OptionInfo(), "."),
    (list[str], OptionInfo(), (1, "a")),
    (list[int], OptionInfo(), ("1",)),
    (bool, OptionInfo(), "yes"),
]


def _typer_makes(annotation: Any, info: OptionInfo, value: Any) -> Any:
    return build_runtime_param(resolve_type_descriptor(annotation, info))._coerce_value(
        value,
        param=None,  # type: ignore[arg-type]
        ctx=None,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(("annotation", "info", "value"), ANSWERED_HERE)
def test_a_value_answered_here_is_what_typer_makes_of_it(
    annotation: Any, info: OptionInfo, value: Any
) -> None:
    given = _as_given(annotation, info, value)

    assert given is not _TYPER
    typer_made = _typer_makes(annotation, info, value)
    assert (given, type(given)) == (typer_made, type(typer_made))


@pytest.mark.parametrize(("annotation", "info", "value"), LEFT_TO_TYPER)
def test_anything_else_is_left_to_typer(annotation: Any, info: OptionInfo, value: Any) -> None:
    assert _as_given(annotation, info, value) is _TYPER


# -- the groups -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(GROUPS))
def test_the_listed_help_of_a_group_is_its_own(name: str) -> None:
    module, attribute, help_text = GROUPS[name]
    group_app = getattr(importlib.import_module(module), attribute)

    assert isinstance(group_app, typer.Typer)
    assert group_app.info.help == help_text


def test_a_tree_built_outside_the_console_script_has_every_group() -> None:
    # typer.main.get_command(app) is what CliRunner and tools that walk the commands use
    group = typer.main.get_command(app)

    assert set(GROUPS) <= set(getattr(group, "commands", {}))
    assert CliRunner().invoke(app, ["runs", "list", "--help"]).exit_code == 0


def test_no_enum_option_is_missed_by_the_shortcut() -> None:
    # every Enum option default is a member of its Enum, so it is taken as given (no pydantic)
    group = typer.main.get_command(app)

    def walk(command: Any) -> Any:
        yield command
        for sub in getattr(command, "commands", {}).values():
            yield from walk(sub)

    defaults = [
        (param.type_descriptor.annotation, param.default)
        for command in walk(group)
        for param in command.params
        if isinstance(param.type_descriptor.annotation, type)
        and issubclass(param.type_descriptor.annotation, Enum)
        and param.default is not None
    ]
    assert defaults
    assert all(_as_given(annotation, OptionInfo(), default) is default for annotation, default in defaults)


def test_a_piped_show_is_aligned_text_without_rich(served_run: tuple[str, str], tmp_path: Path) -> None:
    url, run_id = served_run

    # WHEN a run is shown into a pipe
    output, modules = imported_by(url, tmp_path, "runs", "show", run_id)

    # THEN its fields are aligned key/value lines and its events a box-less table under a title,
    # drawn without rich (or anything else heavy)
    lines = output.splitlines()
    assert lines[0].split() == ["id", run_id]
    assert lines[0].index(run_id) == next(line for line in lines if line.startswith("state ")).index("queued")
    events = lines.index("events")
    assert lines[events + 1].split() == ["at", "from", "to", "reason"]
    assert lines[events + 2].split()[-3:] == ["-", "queued", "enqueued"]
    assert not any(character in output for character in "\u2500\u2502\u2501\u2503")
    assert heavy_in(modules) == []


# -- a piped table without rich is the table rich drew ------------------------------------------
CELLS = [
    ["id", "name", "state"],
    ["0123456789abcdef", "nightly", "queued"],
    ["fedcba9876543210", "夜間の評価", "failed"],
    ["00000000000000ff", "café-ü", "finished"],
]


def test_an_aligned_table_is_rich_s_box_less_table_without_the_trailing_spaces() -> None:
    import io

    from rich.console import Console
    from rich.table import Table

    from launchq.cli.text_table import aligned

    table = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 1), collapse_padding=True)
    for header in CELLS[0]:
        table.add_column(header, no_wrap=True)
    for row in CELLS[1:]:
        table.add_row(*row)
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(table)

    drawn = "".join(line.rstrip() + "\n" for line in out.getvalue().splitlines())
    assert aligned(CELLS) == drawn


def test_a_cell_of_several_lines_takes_as_many() -> None:
    from launchq.cli.text_table import Grid

    grid = Grid([["reason", "exit 3:\nout of memory"], ["state", "failed"]], gap=2, title="run")

    assert str(grid) == "run\nreason  exit 3:\n        out of memory\nstate   failed"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [({"TTY_COMPATIBLE": "1"}, True), ({"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"}, False),
     ({"FORCE_COLOR": "1"}, True), ({"FORCE_COLOR": ""}, False), ({}, False)],
)  # fmt: skip
def test_output_is_for_a_terminal_when_rich_would_say_so(
    environ: dict[str, str], expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    from launchq.cli.text_table import for_terminal

    for name in ("TTY_COMPATIBLE", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)

    # (stdout under pytest is not a terminal)
    assert for_terminal() is expected
    assert Console().is_terminal is expected
