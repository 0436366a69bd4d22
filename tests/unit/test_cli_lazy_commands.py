"""The console script builds only the command it runs, and says the same as a fully built CLI.

typer reads every command's signature and type hints to make its options: ``main()`` keeps the
top-level commands and each group's commands from typer (``launchq.cli.group.DeferredGroup``)
and builds the one invoked. These tests run ``main()`` in fresh interpreters, as a user's shell
would, and compare what it prints with the tree ``typer.main.get_command(app)`` builds whole.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from launchq.cli.group import GROUPS, LaunchqGroup
from launchq.cli.main import app, main
from tests.servers import free_port

# which commands typer is asked to build, printed after main() ends
START_THEN_LIST_BUILT = """
import sys
import typer.main
built = []
build = typer.main.get_command_from_info
def recording(command_info, **options):
    built.append(command_info.callback.__name__)
    return build(command_info, **options)
typer.main.get_command_from_info = recording
from launchq.cli.main import main
sys.argv = ["launchq", *sys.argv[1:]]
try:
    main()
except SystemExit as end:
    print("exit:", end.code)
print("built:", *built)
"""


def run_main(tmp_path: Path, script: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAUNCHQ_URL": f"http://127.0.0.1:{free_port()}", "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("LAUNCHQ_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-c", script, *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def built_by(tmp_path: Path, *argv: str) -> tuple[list[str], str]:
    """The command functions ``launchq ARGV`` had typer build, and its exit line."""
    *_, exit_line, built_line = run_main(tmp_path, START_THEN_LIST_BUILT, *argv).stdout.splitlines()
    return built_line.split()[1:], exit_line


def test_top_level_help_builds_no_command(tmp_path: Path) -> None:
    assert built_by(tmp_path, "--help") == ([], "exit: 0")


def test_launch_help_builds_launch_only(tmp_path: Path) -> None:
    assert built_by(tmp_path, "launch", "--help") == (["launch"], "exit: 0")


def test_runs_list_builds_the_list_command_only(tmp_path: Path) -> None:
    # WHEN runs are listed (nothing listens: exit 1 after the request)
    built, exit_line = built_by(tmp_path, "runs", "list")

    # THEN neither serve, agent, launch nor runs show/follow/stop were built
    assert built == ["list_runs"]
    assert exit_line == "exit: 1"


def test_a_group_help_builds_none_of_its_commands(tmp_path: Path) -> None:
    assert built_by(tmp_path, "queue", "--help") == ([], "exit: 0")


def commands_section(help_text: str) -> list[str]:
    lines = help_text.splitlines()
    return lines[lines.index("Commands:") :]


@pytest.mark.parametrize("group", ["", *GROUPS])
def test_every_listing_is_the_fully_built_one(group: str, tmp_path: Path) -> None:
    argv = [group, "--help"] if group else ["--help"]

    # WHEN the console script lists the commands of a group it has not built
    lazy = run_main(tmp_path, "from launchq.cli.main import main; main()", *argv)
    # AND a CLI built whole (every command's options made) lists them
    whole = CliRunner().invoke(app, argv, terminal_width=200)

    # THEN the names, their order and their one-line help are the same
    assert lazy.returncode == whole.exit_code == 0
    assert commands_section(lazy.stdout) == commands_section(whole.stdout)
    assert len(commands_section(lazy.stdout)) > 1


def test_a_mistyped_command_in_a_group_still_gets_a_suggestion(tmp_path: Path) -> None:
    done = run_main(tmp_path, "from launchq.cli.main import main; main()", "runs", "lst")

    assert done.returncode == 2
    assert done.stderr.startswith("Error: No such command 'lst'. Did you mean 'list'?")


def test_main_gives_the_app_its_commands_back(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN main() ran in this process (a test or a tool calling it)
    monkeypatch.setattr(LaunchqGroup, "lazy", False)
    monkeypatch.setattr(sys, "argv", ["launchq", "launch", "--help"])
    with pytest.raises(SystemExit) as end:
        main()
    assert end.value.code == 0
    assert "--queue" in capsys.readouterr().out

    # THEN the app still has every top-level command for whatever builds it next
    assert [info.callback.__name__ for info in app.registered_commands if info.callback] == [
        "serve",
        "agent",
        "launch",
    ]
    assert LaunchqGroup.deferred_top == {}
    assert CliRunner().invoke(app, ["serve", "--help"]).exit_code == 0
