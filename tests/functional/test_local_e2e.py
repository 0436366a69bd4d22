"""End to end over HTTP against a real ``launchq serve`` process: order, exit codes, logs, stop."""

from __future__ import annotations

import os
import re
import time
from datetime import datetime
from pathlib import Path

import httpx

from tests.functional.helpers import TERMINAL, create_queue, enqueue, py, wait_state


def test_priorities_run_in_order_behind_a_busy_slot(api: httpx.Client, tmp_path: Path) -> None:
    # GIVEN a queue with one slot, held by a long run that waits for a release file
    create_queue(api, "prio", max_jobs=1)
    release = tmp_path / "release"
    blocker = enqueue(
        api,
        "prio",
        entry_point=py(f"import os,time\nwhile not os.path.exists({str(release)!r}): time.sleep(0.05)"),
    )
    wait_state(api, blocker["id"], {"running"})

    # WHEN runs are enqueued as low, critical, high, medium
    codes = {"low": 4, "critical": 0, "high": 2, "medium": 3}
    ids = {}
    for priority, code in codes.items():
        created = enqueue(
            api,
            "prio",
            priority=priority,
            entry_point=py(f"print('I am {priority}'); raise SystemExit({code})"),
        )
        ids[priority] = created["id"]
        assert created["state"] == "queued"
    positions = {p: api.get(f"/runs/{i}").json()["position"] for p, i in ids.items()}
    release.touch()

    # THEN they start critical, high, medium, low; each ends with its exit code and log
    runs = {p: wait_state(api, i, TERMINAL) for p, i in ids.items()}
    assert positions == {"critical": 1, "high": 2, "medium": 3, "low": 4}
    started = sorted(runs, key=lambda p: datetime.fromisoformat(runs[p]["started_at"]))
    assert started == ["critical", "high", "medium", "low"]
    for priority, code in codes.items():
        assert runs[priority]["exit_code"] == code
        assert runs[priority]["state"] == ("finished" if code == 0 else "failed")
        logs = api.get(f"/runs/{ids[priority]}/logs").json()
        assert f"I am {priority}" in logs["text"]
    assert wait_state(api, blocker["id"], TERMINAL)["state"] == "finished"


def test_stop_ends_the_whole_process_group(api: httpx.Client) -> None:
    # GIVEN a running job whose process has a child in its group, both sleeping
    create_queue(api, "stoppable", max_jobs=2)
    code = (
        "import os,subprocess,sys,time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        "print('pgid', os.getpgid(0), 'child', child.pid, flush=True)\n"
        "time.sleep(300)"
    )
    run = enqueue(api, "stoppable", entry_point=py(code))
    wait_state(api, run["id"], {"running"})
    deadline = time.monotonic() + 10
    text = ""
    while "pgid" not in text and time.monotonic() < deadline:
        text = api.get(f"/runs/{run['id']}/logs").json()["text"]
        time.sleep(0.05)
    match = re.search(r"pgid (\d+) child (\d+)", text)
    assert match, text
    pgid = int(match.group(1))

    # WHEN it is stopped
    asked = time.monotonic()
    response = api.post(f"/runs/{run['id']}/stop")

    # THEN it reaches stopped within a few seconds and the group is gone
    assert response.status_code == 202
    assert response.json()["state"] == "stopping"
    final = wait_state(api, run["id"], TERMINAL, timeout=15)
    assert final["state"] == "stopped"
    assert time.monotonic() - asked < 10
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"process group {pgid} still exists")
    reasons = [e["to_state"] for e in final["events"]]
    assert reasons[-2:] == ["stopping", "stopped"]


def test_stopping_a_queued_run_cancels_it(api: httpx.Client, tmp_path: Path) -> None:
    # GIVEN a queue whose only slot is busy and a run waiting behind it
    create_queue(api, "cancel", max_jobs=1)
    busy = enqueue(api, "cancel", entry_point=py("import time; time.sleep(30)"))
    wait_state(api, busy["id"], {"running"})
    waiting = enqueue(api, "cancel", entry_point=py("print('never')"))

    # WHEN the waiting run is stopped
    response = api.post(f"/runs/{waiting['id']}/stop")

    # THEN it is cancelled without ever starting, and stopping it again is a conflict
    assert response.status_code == 202
    assert response.json()["state"] == "cancelled"
    assert api.post(f"/runs/{waiting['id']}/stop").status_code == 409
    api.post(f"/runs/{busy['id']}/stop")
    assert wait_state(api, busy["id"], TERMINAL)["state"] == "stopped"


def test_a_run_that_cannot_start_is_dead_lettered_with_the_reason(api: httpx.Client) -> None:
    create_queue(api, "dl")
    run = enqueue(api, "dl", entry_point=["no-such-program-launchq"])
    final = wait_state(api, run["id"], TERMINAL)
    assert final["state"] == "dead_letter"
    assert "no-such-program-launchq" in final["reason"]


def test_default_queue_exists_and_the_example_trains(api: httpx.Client) -> None:
    queues = api.get("/queues").json()["queues"]
    assert [q["name"] for q in queues] == ["default"]
    assert queues[0]["resource"] == "local-process"
    repo = Path(__file__).resolve().parents[2]
    run = enqueue(
        api,
        "default",
        uri=str(repo / "examples"),
        entry_point="python train.py",
        args=["--epochs", "3"],
        project="demo",
    )
    final = wait_state(api, run["id"], TERMINAL)
    text = api.get(f"/runs/{run['id']}/logs").json()["text"]
    assert final["state"] == "finished", text
    assert f"run {run['id']} on queue default" in text
    assert "epoch   3" in text
