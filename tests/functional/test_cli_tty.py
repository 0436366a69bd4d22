"""``launchq runs list`` as a person sees it in an 80-column terminal, and as a script gets it
through a pipe: the real CLI, in a pseudo-terminal, against a real ``launchq serve`` with
runs in every state."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import httpx

from tests.functional.helpers import TERMINAL, create_queue, enqueue, py, wait_state

COLUMNS = 80
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BOX_DRAWING = re.compile("[\u2500-\u257f]")
SLEEP = py("import time; time.sleep(60)")


def _env(server: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in {"COLUMNS", "LINES", "NO_COLOR"}}
    return {**env, "LAUNCHQ_URL": server, "TERM": "xterm-256color"}


def _in_terminal(server: str, *args: str, timeout: float = 60) -> tuple[int, str]:
    """Run ``launchq ARGS`` with a pseudo-terminal of ``COLUMNS`` columns as its stdin, stdout
    and stderr; return its exit status and everything it wrote (ANSI codes included)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, COLUMNS, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "launchq.cli.main", *args],
        stdin=follower, stdout=follower, stderr=follower, env=_env(server), close_fds=True,
    )  # fmt: skip
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        return proc.wait(timeout=30), b"".join(chunks).decode()
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()


def _piped(server: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launchq.cli.main", *args],
        capture_output=True, text=True, env=_env(server), timeout=60, check=False,
    )  # fmt: skip


def _runs_in_every_state(api: httpx.Client) -> dict[str, str]:
    """state → id of a run in it, named long enough that the table must make room."""
    create_queue(api, "one-slot", max_jobs=1)
    create_queue(api, "work", max_jobs=-1)
    name = "nightly-evaluation-of-the-large-model"
    ids = {
        "running": enqueue(api, "one-slot", entry_point=SLEEP, name=f"{name}-running")["id"],
        "finished": enqueue(api, "work", entry_point=py("pass"), name=f"{name}-ok")["id"],
        "failed": enqueue(api, "work", entry_point=py("raise SystemExit(3)"), name=f"{name}-bad")["id"],
        "dead_letter": enqueue(api, "work", entry_point=["no-such-program-launchq"], name=name)["id"],
        "stopped": enqueue(api, "work", entry_point=SLEEP, name=f"{name}-stopped")["id"],
    }
    wait_state(api, ids["running"], {"running"})
    ids["queued"] = enqueue(api, "one-slot", entry_point=py("pass"), name=f"{name}-waits")["id"]
    ids["cancelled"] = enqueue(api, "one-slot", entry_point=py("pass"), name=f"{name}-never")["id"]
    assert api.post(f"/runs/{ids['cancelled']}/stop").status_code == 202
    wait_state(api, ids["stopped"], {"running"})
    assert api.post(f"/runs/{ids['stopped']}/stop").status_code == 202
    for state, run_id in ids.items():
        assert wait_state(api, run_id, {state} if state in TERMINAL else {state, *TERMINAL})["state"] == state
    return ids


def test_the_runs_table_fits_80_columns_and_pipes_cleanly(server: str, api: httpx.Client) -> None:
    # GIVEN runs in every state a user meets
    ids = _runs_in_every_state(api)

    # WHEN `launchq runs list` writes to an 80-column terminal
    status, raw = _in_terminal(server, "runs", "list")

    # THEN it fits, every id and state is whole on its run's line, and the states are coloured
    assert status == 0, raw
    screen = ANSI.sub("", raw).replace("\r\n", "\n")
    lines = screen.splitlines()
    assert all(len(line) <= COLUMNS for line in lines), screen
    for state, run_id in ids.items():
        line = next(line for line in lines if line.startswith(run_id))
        assert state in line.split(), (state, line)
    assert "…" in screen  # the long names gave way, not the states
    assert re.search(r"\x1b\[[0-9;]*31mfailed", raw), raw  # failed in red
    assert re.search(r"\x1b\[[0-9;]*32mfinished", raw), raw  # finished in green
    assert " UTC" in screen  # times say their zone

    # WHEN the same listing is piped
    piped = _piped(server, "runs", "list")

    # THEN no box, no colour, every column and state whole
    assert piped.returncode == 0, piped.stderr
    assert not BOX_DRAWING.search(piped.stdout), piped.stdout
    assert not ANSI.search(piped.stdout), piped.stdout
    header, *rows = piped.stdout.splitlines()
    assert header.split() == [
        *("id", "queue", "name", "state", "priority", "position", "exit_code", "waiting", "eta", "created")
    ]
    states = {cells[0]: cells[3] for cells in (row.split() for row in rows)}
    assert states == {run_id: state for state, run_id in ids.items()}

    # AND -o json is one document a script can parse; -o plain splits on tabs
    as_json = json.loads(_piped(server, "runs", "list", "-o", "json").stdout)
    assert {run["id"]: run["state"] for run in as_json["runs"]} == {v: k for k, v in ids.items()}
    plain = _piped(server, "runs", "list", "-o", "plain", "--limit", "3").stdout.splitlines()
    assert len(plain) == 1 + 3
    assert all(len(line.split("\t")) == 10 for line in plain)

    api.post(f"/runs/{ids['queued']}/stop")
    api.post(f"/runs/{ids['running']}/stop")
