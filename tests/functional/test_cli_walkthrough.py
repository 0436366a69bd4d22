"""The README walkthrough, word for word: the installed ``launchq`` command against a real server."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import httpx

from tests.functional.helpers import TERMINAL, wait_state

REPO = Path(__file__).resolve().parents[2]
LAUNCHQ = str(Path(sys.executable).parent / "launchq")


def sh(server: str, line: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one README line (``launchq ...``) with the installed command, from the repo root."""
    argv = shlex.split(line)
    assert argv[0] == "launchq"
    env = {**os.environ, "LAUNCHQ_URL": server, "COLUMNS": "200"}
    done = subprocess.run([LAUNCHQ, *argv[1:]], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
    return done


def test_readme_walkthrough(server: str, api: httpx.Client) -> None:
    # the first launch, as in the README
    launched = sh(
        server, 'launchq launch -q default -u examples -E "python train.py" -a --epochs -a 5 --name first'
    )
    run_id = launched.stdout.strip()
    assert len(run_id) == 16, launched.stdout
    assert run_id in sh(server, "launchq runs list").stdout
    logs = sh(server, f"launchq runs logs {run_id} -f").stdout
    assert "epoch   5" in logs
    shown = sh(server, f"launchq runs show {run_id}").stdout
    assert "finished" in shown
    assert "exited with code 0" in shown

    # priorities on a one-slot queue
    sh(server, "launchq queue create gpu --resource local-process --max-jobs 1")
    busy = sh(
        server, 'launchq launch -q gpu -u examples -E "python train.py --sleep 0.5" --name busy'
    ).stdout.strip()
    wait_state(api, busy, {"running"})
    later = sh(
        server, 'launchq launch -q gpu -u examples -E "python train.py" -P low --name later'
    ).stdout.strip()
    first = sh(
        server, 'launchq launch -q gpu -u examples -E "python train.py" -P critical --name first-in-line'
    ).stdout.strip()
    assert api.get(f"/runs/{first}").json()["position"] == 1
    assert api.get(f"/runs/{later}").json()["position"] == 2
    listing = sh(server, "launchq runs list -q gpu").stdout
    assert first in listing
    assert later in listing
    stopped = sh(server, f"launchq runs stop {later}")
    assert api.get(f"/runs/{later}").json()["state"] == "cancelled", stopped.stdout
    done = wait_state(api, first, TERMINAL, timeout=60)
    assert done["state"] == "finished"
    assert done["started_at"] > api.get(f"/runs/{busy}").json()["started_at"]

    # a mistake is one line on stderr and exit 2
    bad = sh(server, "launchq launch -q gpu -E true -P urgent", check=False)
    assert bad.returncode == 2
    assert "urgent" in bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout
