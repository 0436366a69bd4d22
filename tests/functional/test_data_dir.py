"""One data directory for ``launchq serve``, ``make run`` and ``launchq agent``; ``code://`` on
local-process; a URL that answers but is not launchq; what the CLI imports to start.

Every test runs the real command as a process, from a temporary current directory with a
temporary ``HOME``, so the default data directory is the one a user would get.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from launchq.local.settings import load_local_settings
from tests.functional.helpers import create_queue, enqueue, wait_state
from tests.loopback_http import LoopbackServer, QuietHandler
from tests.servers import free_port, stop_process, wait_http

REPO = Path(__file__).resolve().parents[2]
LAUNCHQ = [sys.executable, "-m", "launchq.cli.main"]


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user whose home is ``home``: no LAUNCHQ_* or XDG_* of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAUNCHQ_", "XDG_"))}
    return {**env, "HOME": str(home), "LAUNCHQ_POLL_INTERVAL": "0.2", **extra}


def launchq(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LAUNCHQ, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@contextmanager
def serve(cwd: Path, env: dict[str, str], *args: str) -> Iterator[str]:
    """``launchq serve`` started in ``cwd`` with no ``--data-dir`` unless ``args`` give one."""
    port = free_port()
    log = cwd / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*LAUNCHQ, "serve", "--port", str(port), *args], cwd=cwd, env=env, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz", proc, log)
        yield base
    finally:
        stop_process(proc, signal.SIGINT, timeout=15)


@pytest.fixture
def user(tmp_path: Path) -> tuple[Path, Path]:
    """(a fresh HOME, a fresh current directory) for one user."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    return home, work


# -- the rule -------------------------------------------------------------------------------
def test_the_data_dir_rule_flag_then_variable_then_dot_launchq_then_xdg(
    user: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, work = user
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    for name in ("LAUNCHQ_DATA_DIR", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)

    # no .launchq here, no variable: the user's XDG data directory
    assert load_local_settings().data_dir == home / ".local" / "share" / "launchq"
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg"))
    assert load_local_settings().data_dir == home / "xdg" / "launchq"
    # a .launchq/ in the current directory (what `make run` makes) wins over the user's
    (work / ".launchq").mkdir()
    assert load_local_settings().data_dir == work / ".launchq"
    # LAUNCHQ_DATA_DIR wins over both, and the flag over everything
    monkeypatch.setenv("LAUNCHQ_DATA_DIR", str(home / "elsewhere"))
    assert load_local_settings().data_dir == home / "elsewhere"
    assert load_local_settings(data_dir=home / "flag").data_dir == home / "flag"


def test_makefile_run_serves_the_data_dir_the_agent_finds() -> None:
    # GIVEN the Makefile's run target, printed rather than run (make -n)
    # (not as a sub-make of `make test`: that would add "Entering directory" lines)
    nested = ("LAUNCHQ_DATA_DIR", "DATA_DIR", "MAKELEVEL", "MAKEFLAGS", "MFLAGS")
    env = {k: v for k, v in os.environ.items() if k not in nested}
    line = (
        subprocess.run(
            ["make", "--no-print-directory", "-n", "-o", "setup-server", "run"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    # THEN it serves from .launchq/ in the checkout (what an agent started there opens) ...
    assert line.endswith(f"--data-dir {REPO}/.launchq"), line
    # ... and from LAUNCHQ_DATA_DIR when the user set one, as launchq itself would
    moved = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", "setup-server", "run"],
        cwd=REPO, env={**env, "LAUNCHQ_DATA_DIR": "/srv/lq"}, capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    assert moved.endswith("--data-dir /srv/lq"), moved


# -- serve and agent on one store ---------------------------------------------------------------
@pytest.mark.parametrize("project_dir", [True, False], ids=["dot-launchq", "xdg"])
def test_agent_started_where_serve_was_finds_its_queues(user: tuple[Path, Path], project_dir: bool) -> None:
    # GIVEN `launchq serve` started with no --data-dir (in a directory with .launchq/, as
    # `make run` leaves the checkout, or without: the user's default) and a queue made over HTTP
    home, work = user
    if project_dir:
        (work / ".launchq").mkdir()
    expected = work / ".launchq" if project_dir else home / ".local" / "share" / "launchq"
    env = user_env(home)
    with serve(work, env) as base, httpx.Client(base_url=base, timeout=10) as api:
        create_queue(api, "gpu", max_jobs=1)

        # WHEN `launchq agent -q gpu` starts from the same directory, with no --data-dir
        agent = subprocess.Popen(
            [*LAUNCHQ, "agent", "-q", "gpu"],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            lines = []
            for raw in agent.stdout or []:  # the agent logs once it found its queues
                lines.append(raw.decode())
                if "watching gpu" in lines[-1]:
                    break
        finally:
            stop_process(agent, signal.SIGTERM, timeout=20)
        out = "".join(lines) + (agent.stdout.read().decode() if agent.stdout else "")

    # THEN it found the server's queue in the server's store, and ended cleanly when told to
    assert "launchq agent watching gpu" in out, out
    assert agent.returncode == 0, out
    assert (expected / "launchq.db").is_file()
    assert sorted(p.name for p in home.rglob("launchq.db")) == ([] if project_dir else ["launchq.db"])


def test_agent_without_a_store_names_where_it_looked_and_creates_nothing(user: tuple[Path, Path]) -> None:
    # GIVEN a user who never started a server
    home, work = user

    # WHEN an agent is started for the default queue
    done = launchq(work, user_env(home), "agent", "-q", "default")

    # THEN one line naming the database it looked for, exit 2, and nothing left behind
    expected = home / ".local" / "share" / "launchq" / "launchq.db"
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"Error: queue: no launchq store at {expected} (none was created): start `launchq serve` "
        "first, or name the server's data directory with --data-dir or LAUNCHQ_DATA_DIR"
    ]
    assert list(home.rglob("*")) == []
    assert list(work.rglob("*")) == []


def test_agent_for_a_queue_the_store_lacks_names_the_store(user: tuple[Path, Path]) -> None:
    # GIVEN a server's store in .launchq/ with only the default queue
    home, work = user
    (work / ".launchq").mkdir()
    env = user_env(home)
    with serve(work, env):
        pass

    # WHEN an agent asks for another queue
    done = launchq(work, env, "agent", "-q", "gpu")

    # THEN the error says which store lacks it
    db = work / ".launchq" / "launchq.db"
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"Error: queue: queue 'gpu' does not exist in {db} (--data-dir or LAUNCHQ_DATA_DIR names "
        "another data directory)"
    ]


# -- code:// on local-process -------------------------------------------------------------------
def test_code_push_hint_runs_the_upload_on_the_default_local_process_queue(
    server: str, api: httpx.Client, tmp_path: Path
) -> None:
    # GIVEN the example uploaded with `launchq code push`
    env = {**os.environ, "LAUNCHQ_URL": server}
    pushed = launchq(tmp_path, env, "code", "push", str(REPO / "examples"))
    assert pushed.returncode == 0, pushed.stderr
    ref = pushed.stdout.strip()
    assert ref.startswith("code://")
    hint = pushed.stderr.strip().split("run it with: ", 1)[1]

    # WHEN the printed command is run, with the command filled in
    argv = shlex.split(
        hint.replace("<command, e.g. python train.py>", f"{sys.executable} train.py --epochs 2")
    )
    assert argv[:2] == ["launchq", "launch"]
    launched = launchq(tmp_path, env, *argv[1:])
    assert launched.returncode == 0, launched.stderr

    # THEN the run ran the uploaded train.py, unpacked in its workspace, on local-process
    run = wait_state(api, launched.stdout.strip(), {"finished", "failed", "dead_letter"}, timeout=60)
    assert run["state"] == "finished", run
    assert run["queue"] == "default"
    assert run["spec"]["uri"] == ref
    log = api.get(f"/runs/{run['id']}/logs").json()["text"]
    assert "epoch   2" in log, log


def test_code_refs_on_local_process_are_checked_at_enqueue_and_at_start(api: httpx.Client) -> None:
    # a malformed reference, and a git_version with uploaded code: refused at enqueue
    bad = api.post("/queues/default/runs", json={"uri": "code://abc", "entry_point": ["true"]})
    assert bad.status_code == 422, bad.text
    assert bad.json()["field"] == "uri"
    digest = "0" * 64
    versioned = api.post(
        "/queues/default/runs",
        json={"uri": f"code://{digest}", "git_version": "main", "entry_point": ["true"]},
    )
    assert versioned.status_code == 422, versioned.text
    assert versioned.json()["field"] == "git_version"

    # a well-formed reference to nothing uploaded: dead-lettered when it starts, saying so
    run = enqueue(api, "default", uri=f"code://{digest}", entry_point=["true"])
    ended = wait_state(api, run["id"], {"finished", "failed", "dead_letter"})
    assert ended["state"] == "dead_letter"
    assert f"code://{digest} was not found" in ended["reason"]


# -- a URL that is not launchq ------------------------------------------------------------------
def _answering(status: int, content_type: str, body: bytes) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def _serve(self) -> None:
            self.read_body()
            self.answer(status, {"Content-Type": content_type}, body)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

    return Handler


@pytest.mark.parametrize(
    ("status", "content_type", "body", "health"),
    [
        (200, "text/html", b"<html><title>Welcome to nginx!</title></html>", "200 OK, text/html"),
        (
            404,
            "application/json",
            json.dumps({"detail": "Not Found"}).encode(),
            "404 Not Found, application/json",
        ),
    ],
    ids=["html-page", "another-json-api"],
)
def test_a_url_that_answers_but_is_not_launchq_is_one_line_exit_2(
    tmp_path: Path, status: int, content_type: str, body: bytes, health: str
) -> None:
    # GIVEN LAUNCHQ_URL points at a web server that is not launchq
    with LoopbackServer(_answering(status, content_type, body)) as other:
        env = {**os.environ, "LAUNCHQ_URL": other.url}

        # WHEN a listing and a launch are tried against it
        listed = launchq(tmp_path, env, "runs", "list")
        launched = launchq(tmp_path, env, "launch", "-q", "default", "-u", str(tmp_path), "-E", "true")

    # THEN each says, on one line, that this is not a launchq API and what /healthz answered
    expected = [f"Error: {other.url}: not a launchq API (GET /healthz returned {health})"]
    for done in (listed, launched):
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == expected
        assert done.stdout == ""


def test_launchq_behind_a_proxy_page_is_not_called_foreign(tmp_path: Path) -> None:
    # GIVEN a URL whose /healthz is launchq's but whose other routes answer a proxy's HTML error
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                self.answer(
                    200, {"Content-Type": "application/json"}, b'{"status": "ok", "version": "0.1.0"}'
                )
            else:
                self.answer(502, {"Content-Type": "text/html"}, b"<html>Bad Gateway</html>")

    with LoopbackServer(Handler) as proxy:
        # WHEN runs are listed
        done = launchq(tmp_path, {**os.environ, "LAUNCHQ_URL": proxy.url}, "runs", "list")

    # THEN the 502 is reported as a server error (exit 1), not as "not a launchq API"
    assert done.returncode == 1, done.stderr
    assert "not a launchq API" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "Error: launchq server error (HTTP 502 Bad Gateway): <html>Bad Gateway</html>"
    ]


# -- what the CLI imports to start ------------------------------------------------------------------
RUN_THEN_LIST_MODULES = """
import sys
from launchq.cli.main import main
sys.argv = ["launchq", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
watched = ("httpx", "http.client", "pydantic", "launchq.build", "launchq.local")
print("loaded:", *[m for m in watched if m in sys.modules])
"""


@pytest.mark.parametrize(
    ("argv", "loaded"),
    [(["--help"], ""), (["runs", "list"], "http.client")],
    ids=["help", "runs-list-error-path"],
)
def test_the_cli_loads_only_what_the_command_needs(tmp_path: Path, argv: list[str], loaded: str) -> None:
    # GIVEN nothing listens at LAUNCHQ_URL
    env = {**os.environ, "LAUNCHQ_URL": f"http://127.0.0.1:{free_port()}"}

    # WHEN the CLI runs a command in a fresh interpreter
    done = subprocess.run(
        [sys.executable, "-c", RUN_THEN_LIST_MODULES, *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )

    # THEN help needs no HTTP client, no pydantic, no builds and no server; a request to a
    # plain http:// URL needs the standard library's http.client (not httpx), still no pydantic
    # (typer's option parsing is spared it), no builds and no server
    assert done.stdout.splitlines()[-1] == f"loaded: {loaded}".strip(), done.stdout[-300:]
