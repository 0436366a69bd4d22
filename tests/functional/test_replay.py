"""``launchq runs replay`` against a real ``launchq serve``: a run dead-lettered because its
program was missing is replayed once the program exists, and finishes; what cannot be
replayed is a one-line error with a non-zero exit."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from tests.functional.helpers import TERMINAL, create_queue, enqueue, wait_state
from tests.servers import launchq_serve

TOOL = "launchq-replay-tool"


def cli(server: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAUNCHQ_URL": server}
    return subprocess.run(
        [sys.executable, "-m", "launchq.cli.main", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_dead_letter_is_replayed_once_its_cause_is_fixed(tmp_path: Path) -> None:
    # GIVEN a server whose PATH has a directory that does not hold the run's program yet
    tools = tmp_path / "bin"
    tools.mkdir()
    path = f"{tools}{os.pathsep}{os.environ['PATH']}"
    with (
        launchq_serve(tmp_path / "data", PATH=path) as server,
        httpx.Client(base_url=server, timeout=10) as api,
    ):
        create_queue(api, "tools")
        run = enqueue(api, "tools", entry_point=[TOOL])
        dead = wait_state(api, run["id"], TERMINAL)
        assert dead["state"] == "dead_letter", dead
        listed = cli(server, "runs", "list", "--state", "dead_letter", "-o", "plain")
        assert run["id"] in listed.stdout, listed
        # WHEN the program is installed and the run is replayed from the CLI
        program = tools / TOOL
        program.write_text("#!/bin/sh\necho replayed and done\n")
        program.chmod(program.stat().st_mode | stat.S_IXUSR)
        replayed = cli(server, "runs", "replay", run["id"])
        # THEN it went back in line and finished, with both attempts in its history
        assert replayed.returncode == 0, replayed.stderr
        assert replayed.stdout.startswith(f"run {run['id']} replayed: back in line"), replayed.stdout
        final = wait_state(api, run["id"], TERMINAL)
        assert final["state"] == "finished", final
        assert "replayed and done" in api.get(f"/runs/{run['id']}/logs").json()["text"]
        states = [event["to_state"] for event in final["events"]]
        assert states.count("dead_letter") == 1
        assert states[-1] == "finished"
        # AND replaying it again is refused in one line, exit 1, the run unchanged
        again = cli(server, "runs", "replay", run["id"])
        assert again.returncode != 0
        assert "only a dead_letter run can be replayed" in again.stderr
        assert len(again.stderr.strip().splitlines()) == 1, again.stderr
        assert "Traceback" not in again.stderr
        response = api.post(f"/runs/{run['id']}/replay")
        assert (response.status_code, response.json()["field"]) == (409, "state")
        assert api.post("/runs/nope/replay").status_code == 404
        assert len(api.get(f"/runs/{run['id']}").json()["events"]) == len(final["events"])
