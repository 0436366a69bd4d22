"""The start-up budget of the common commands, guarded by what they import, not by a clock.

A ``launchq`` start is mostly imports, so the budget is kept by naming what each common
command must not load: httpx (a plain http:// API is spoken to with ``http.client``), attrs
(which rich would import only to pretty-print attrs classes), pydantic and the models, YAML,
any cloud SDK, and the build, server and API code. Each start is a fresh interpreter running
the console script's ``main()``; ``runs list`` talks to a real ``launchq serve --no-dispatch``
and must still print its table.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import launchq_serve

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

NEVER_AT_START = (
    "httpx",
    "httpcore",
    "attr",
    "pydantic",
    "yaml",
    "boto3",
    "botocore",
    # (not "google.cloud" itself: a namespace the site's .pth files create in every process)
    "google.api_core",
    "google.auth",
    "google.protobuf",
    "google.cloud.pubsub_v1",
    "google.cloud.firestore",
    "google.cloud.aiplatform",
    "azure",
    "uvicorn",
    "launchq.domain.models",
    "launchq.build",
    "launchq.local",
    "launchq.api",
    "launchq.adapters.stores",
    "typer.rich_utils",
)
DRAWING = ("rich.console", "rich.table")

START_THEN_LIST_MODULES = """
import sys
from launchq.cli.main import main
sys.argv = ["launchq", *sys.argv[1:]]
try:
    main()
except SystemExit as end:
    print("exit:", end.code)
loaded = sorted(sys.modules)
import attr  # attrs left out of rich's import must still load for whoever asks
print("attr still loads:", attr.define is not None)
print("loaded:", *loaded)
"""


def start(url: str, cwd: Path, *argv: str) -> tuple[str, set[str], str]:
    """``launchq ARGV`` in a fresh interpreter, stdout piped: its output, the modules it loaded
    (by name and every parent package name), and its stderr."""
    env = {**os.environ, "LAUNCHQ_URL": url, "NO_COLOR": "1"}
    for name in ("LAUNCHQ_DEBUG", "LAUNCHQ_API_KEY", "LAUNCHQ_AUTH"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", START_THEN_LIST_MODULES, *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    *output, exit_line, attr_line, loaded_line = done.stdout.splitlines()
    assert exit_line in ("exit: 0", "exit: None"), done.stderr
    assert attr_line == "attr still loads: True"
    modules = set(loaded_line.split()[1:])
    return "\n".join(output), modules, done.stderr


def loaded_of(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` (a module or a package and everything under it) were loaded."""
    return [name for name in names if any(m == name or m.startswith(f"{name}.") for m in modules)]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``launchq serve --no-dispatch`` holding two queued runs."""
    data = tmp_path_factory.mktemp("startup") / "data"
    with launchq_serve(data, "--no-dispatch") as url:
        for name in ("first", "second"):
            body = {"uri": str(EXAMPLES), "entry_point": ["python", "train.py"], "name": name}
            httpx.post(f"{url}/queues/default/runs", json=body, timeout=30).raise_for_status()
        yield url


def test_runs_list_draws_its_table_without_httpx_attrs_pydantic_or_any_sdk(api: str, tmp_path: Path) -> None:
    # WHEN the runs are listed, as a table, from a real server
    output, modules, _ = start(api, tmp_path, "runs", "list")

    # THEN both runs are in the table, piped, so drawn without rich, over the standard
    # library's HTTP client
    assert output.splitlines()[0].split()[:4] == ["id", "queue", "name", "state"]
    rows = [line.split() for line in output.splitlines()[1:]]
    assert sorted(row[2] for row in rows) == ["first", "second"]
    assert {row[3] for row in rows} == {"queued"}
    assert loaded_of(modules, (*DRAWING, "rich")) == []
    assert "http.client" in modules
    # AND nothing the budget leaves out was loaded
    assert loaded_of(modules, NEVER_AT_START) == []


@pytest.mark.parametrize(
    "argv", [["--help"], ["launch", "--help"], ["runs", "list", "--help"], ["queue", "--help"]]
)
def test_help_loads_no_http_client_and_nothing_that_draws(argv: list[str], api: str, tmp_path: Path) -> None:
    output, modules, _ = start(api, tmp_path, *argv)

    assert output.startswith("Usage: launchq")
    assert loaded_of(modules, ("http.client", *DRAWING, *NEVER_AT_START)) == []
