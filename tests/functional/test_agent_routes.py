"""The agent routes against a real ``launchq serve`` over HTTP (no agent: the test is the agent).

Claim, long-poll wait woken by an enqueue, version-checked moves and their replay, the
refusals (stale, forbidden, unknown, not an agents queue), lease renewal, the log merge
and the shipped log served by ``GET /runs/{id}/logs``; and an ``agents`` queue that the
server's own dispatcher never launches from.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.functional.helpers import create_queue, enqueue, py, wait_state
from tests.servers import launchq_serve_process

AGENT = "gpu-box-1"


def claim(api: httpx.Client, queue: str, **extra: Any) -> dict[str, Any]:
    response = api.post("/agents/claim", json={"agent": AGENT, "queue": queue, **extra})
    assert response.status_code == 200, response.text
    run = response.json()["run"]
    assert run is not None, f"nothing to claim on {queue}"
    return dict(run)


def move(api: httpx.Client, run: dict[str, Any], to: str, reason: str, **update: Any) -> httpx.Response:
    body = {
        "agent": AGENT,
        "version": run["version"],
        "from_state": run["state"],
        "to_state": to,
        "reason": reason,
        "update": update,
    }
    return api.post(f"/agents/runs/{run['id']}/move", json=body)


def detail(api: httpx.Client, run_id: str) -> dict[str, Any]:
    response = api.get(f"/agents/runs/{run_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def ship(api: httpx.Client, run_id: str, offset: int, text: str) -> int:
    response = api.post(f"/agents/runs/{run_id}/logs", json={"agent": AGENT, "offset": offset, "text": text})
    assert response.status_code == 200, response.text
    return int(response.json()["end"])


def error(response: httpx.Response, status: int) -> tuple[str, str | None]:
    assert response.status_code == status, response.text
    body = response.json()
    return body["error"], body["field"]


@pytest.fixture
def gpu(api: httpx.Client) -> str:
    create_queue(api, "gpu", max_jobs=2, dispatch="agents")
    return "gpu"


def test_the_agent_routes_are_in_the_openapi_document(api: httpx.Client) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    routes = {
        ("post", "/agents/claim"),
        ("post", "/agents/wait"),
        ("get", "/agents/runs"),
        ("get", "/agents/runs/{run_id}"),
        ("post", "/agents/runs/{run_id}/move"),
        ("post", "/agents/runs/{run_id}/lease"),
        ("post", "/agents/runs/{run_id}/logs"),
    }
    for method, path in routes:
        assert paths[path][method]["tags"] == ["agents"], (method, path)


def test_the_server_never_launches_from_an_agents_queue(api: httpx.Client, gpu: str) -> None:
    create_queue(api, "cpu", max_jobs=2)
    waiting = [enqueue(api, gpu, entry_point=py("pass"))["id"] for _ in range(3)]
    served = enqueue(api, "cpu", entry_point=py("pass"))["id"]
    wait_state(api, served, {"finished"})  # the server's dispatcher and reconciler are at work...
    time.sleep(1.0)  # ...for several more of their 0.2 s passes
    assert [api.get(f"/runs/{run_id}").json()["state"] for run_id in waiting] == ["queued"] * 3
    assert api.get(f"/queues/{gpu}").json()["dispatch"] == "agents"


def test_a_resource_the_server_has_no_target_for_needs_dispatch_agents(api: httpx.Client) -> None:
    refused = api.post("/queues", json={"name": "sm", "resource": "vertex"})
    assert error(refused, 422) == ("invalid_input", "resource")
    assert "set dispatch: agents" in refused.json()["detail"]
    assert api.get("/queues/sm").status_code == 404
    accepted = api.post("/queues", json={"name": "sm", "resource": "vertex", "dispatch": "agents"})
    assert accepted.status_code == 201, accepted.text


def test_the_cli_creates_and_shows_an_agents_queue(server: str, api: httpx.Client, tmp_path: Path) -> None:
    def launchq(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "launchq.cli.main", *args],
            env={**os.environ, "LAUNCHQ_URL": server, "LAUNCHQ_AUTH": "none", "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        return done

    launchq("queue", "create", "gpu2", "-r", "local-process", "--dispatch", "agents", "--max-jobs", "2")
    assert api.get("/queues/gpu2").json()["dispatch"] == "agents"
    shown = launchq("queue", "show", "gpu2").stdout
    assert any(line.split() == ["dispatch", "agents"] for line in shown.splitlines()), shown
    launchq("queue", "update", "gpu2", "--dispatch", "server")
    assert api.get("/queues/gpu2").json()["dispatch"] == "server"


def test_claims_come_in_priority_order_up_to_max_jobs(api: httpx.Client, gpu: str) -> None:
    low = enqueue(api, gpu, entry_point=py("pass"), priority="low")["id"]
    high = enqueue(api, gpu, entry_point=py("pass"), priority="high")["id"]
    medium = enqueue(api, gpu, entry_point=py("pass"))["id"]
    first, second = claim(api, gpu), claim(api, gpu)
    assert [first["id"], second["id"]] == [high, medium]
    assert (first["state"], first["version"], first["resolved"]) == ("claimed", 2, {})
    assert first["lease_expires_at"] is not None
    full = api.post("/agents/claim", json={"agent": AGENT, "queue": gpu})
    assert full.json() == {"run": None}  # max_jobs 2
    assert api.get(f"/runs/{low}").json()["state"] == "queued"


def test_claims_that_cannot_be_served_are_refused(api: httpx.Client, gpu: str) -> None:
    create_queue(api, "cpu")
    assert error(api.post("/agents/claim", json={"agent": AGENT, "queue": "nope"}), 404)[0] == "not_found"
    assert error(api.post("/agents/claim", json={"agent": AGENT, "queue": "cpu"}), 409) == (
        "conflict",
        "queue",
    )
    bad_agent = api.post("/agents/claim", json={"agent": "no spaces", "queue": gpu})
    assert error(bad_agent, 422) == ("invalid_input", "agent")
    short_lease = api.post("/agents/claim", json={"agent": AGENT, "queue": gpu, "lease_seconds": 5})
    assert error(short_lease, 422) == ("invalid_input", "lease_seconds")
    unknown = api.post("/agents/claim", json={"agent": AGENT, "queue": gpu, "extra": 1})
    assert error(unknown, 422) == ("invalid_input", "extra")


def test_wait_is_woken_by_an_enqueue(api: httpx.Client, server: str, gpu: str) -> None:
    create_queue(api, "idle", dispatch="agents")
    answers: list[dict[str, Any]] = []

    def long_poll() -> None:
        with httpx.Client(base_url=server, timeout=30) as client:
            body = {"agent": AGENT, "queues": ["idle", gpu], "wait_seconds": 15}
            answers.append(client.post("/agents/wait", json=body).json())

    waiter = threading.Thread(target=long_poll)
    waiter.start()
    time.sleep(0.5)  # the request is held (were it not yet, it finds the run at once: same answer)
    enqueue(api, gpu, entry_point=py("pass"))
    waiter.join(timeout=20)
    assert answers == [{"queues": [gpu], "long_poll": True}]
    now = api.post("/agents/wait", json={"agent": AGENT, "queues": ["idle"]})
    assert now.json() == {"queues": [], "long_poll": True}


def test_a_run_reported_through_its_life_with_replays_and_refusals(api: httpx.Client, gpu: str) -> None:
    run_id = enqueue(api, gpu, entry_point=py("pass"))["id"]
    claimed = claim(api, gpu)
    assert claimed["id"] == run_id
    handle = {"pid": "4242", "host": "gpu-box-1-abc"}
    submitted = move(api, claimed, "starting", "submitted to local-process", handle=handle, clear_lease=True)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["replayed"] is False
    starting = submitted.json()["run"]
    assert (starting["state"], starting["version"], starting["handle"]) == ("starting", 3, handle)

    # a retry of the same report (its answer was lost): the same run, nothing written twice
    again = move(api, claimed, "starting", "submitted to local-process", handle=handle, clear_lease=True)
    assert again.status_code == 200, again.text
    assert (again.json()["replayed"], again.json()["run"]["version"]) == (True, 3)
    assert [e["to_state"] for e in detail(api, run_id)["events"]] == ["queued", "claimed", "starting"]

    # refusals change nothing
    assert error(move(api, claimed, "starting", "another reason"), 409) == ("conflict", "version")
    assert error(move(api, starting, "claimed", "back"), 409) == ("conflict", "to_state")  # forbidden
    assert error(move(api, {**starting, "state": "running"}, "finished", "x"), 409) == ("conflict", "state")
    assert error(move(api, {**starting, "id": "no-such-run"}, "running", "x"), 404)[0] == "not_found"
    assert error(move(api, {**starting, "version": 0}, "running", "x"), 422) == ("invalid_input", "version")
    unchanged = detail(api, run_id)
    assert (unchanged["run"]["state"], unchanged["run"]["version"], len(unchanged["events"])) == (
        "starting",
        3,
        3,
    )

    running = move(api, starting, "running", "job is running").json()["run"]
    finished = move(
        api, running, "finished", "exited with code 0", exit_code=0, finished_at="2026-11-30T12:00:00Z"
    )
    assert finished.status_code == 200, finished.text
    shown = api.get(f"/runs/{run_id}").json()
    assert (shown["state"], shown["exit_code"], shown["reason"]) == ("finished", 0, "exited with code 0")
    assert [e["to_state"] for e in shown["events"]] == [
        "queued",
        "claimed",
        "starting",
        "running",
        "finished",
    ]


def test_a_lease_is_renewed_while_held_and_refused_after(api: httpx.Client, gpu: str) -> None:
    enqueue(api, gpu, entry_point=py("pass"))
    run = claim(api, gpu, lease_seconds=30)
    body = {"agent": AGENT, "version": run["version"], "lease_seconds": 3600}
    renewed = api.post(f"/agents/runs/{run['id']}/lease", json=body)
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["run"]["version"] == run["version"]
    assert renewed.json()["run"]["lease_expires_at"] > run["lease_expires_at"]
    assert move(api, run, "starting", "submitted").status_code == 200
    stale = api.post(f"/agents/runs/{run['id']}/lease", json=body)
    assert error(stale, 409) == ("conflict", "version")
    assert error(api.post("/agents/runs/nope/lease", json=body), 404)[0] == "not_found"


def test_shipped_logs_merge_and_are_served_as_the_runs_log(api: httpx.Client, gpu: str) -> None:
    enqueue(api, gpu, entry_point=py("pass"))
    run = claim(api, gpu)
    started = move(api, run, "starting", "submitted", started_at="2026-11-30T12:00:00Z").json()["run"]
    assert ship(api, started["id"], 0, "line 1\n") == 7
    assert ship(api, started["id"], 0, "line 1\n") == 7  # a retry
    assert ship(api, started["id"], 3, "e 1\nline 2\n") == 14  # overlaps: trimmed
    assert ship(api, started["id"], 20, "x") == 21  # six characters never shipped
    logs = api.get(f"/runs/{started['id']}/logs").json()
    assert logs["text"] == "line 1\nline 2\n\n[... 6 characters not shipped ...]\nx"
    assert logs["next_offset"] == 21
    tail = api.get(f"/runs/{started['id']}/logs", params={"offset": 21}).json()
    assert (tail["text"], tail["next_offset"]) == ("", 21)
    too_big = api.post(
        f"/agents/runs/{started['id']}/logs",
        json={"agent": AGENT, "offset": 21, "text": "y" * (256 * 1024 + 1)},
    )
    assert error(too_big, 422) == ("invalid_input", "text")
    assert api.get(f"/runs/{started['id']}/logs").json()["next_offset"] == 21


def test_runs_are_listed_by_queue_and_states(api: httpx.Client, gpu: str) -> None:
    queued = enqueue(api, gpu, entry_point=py("pass"))["id"]
    enqueue(api, gpu, entry_point=py("pass"))
    first = claim(api, gpu)
    listed = api.get("/agents/runs", params=[("queue", gpu), ("state", "claimed"), ("state", "starting")])
    assert listed.status_code == 200, listed.text
    assert [r["id"] for r in listed.json()["runs"]] == [first["id"]]
    everything = api.get("/agents/runs", params={"queue": gpu}).json()["runs"]
    assert len(everything) == 2
    assert everything[0]["seq"] > everything[1]["seq"]  # newest first
    assert queued in {r["id"] for r in everything}
    assert error(api.get("/agents/runs"), 422) == ("invalid_input", "queue")
    assert error(api.get("/agents/runs", params={"queue": "nope"}), 404)[0] == "not_found"


def test_ctrl_c_answers_a_long_poll_at_once_and_the_server_stops_cleanly(tmp_path: Path) -> None:
    # GIVEN a server holding an agent's 20 s long poll on an idle agents queue
    with (
        launchq_serve_process(tmp_path / "data") as (base, proc),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        create_queue(client, "gpu", max_jobs=1, dispatch="agents")
        answers: list[httpx.Response] = []
        body = {"agent": AGENT, "queues": ["gpu"], "wait_seconds": 20}
        poll = threading.Thread(target=lambda: answers.append(client.post("/agents/wait", json=body)))
        poll.start()
        time.sleep(1.0)  # the poll is being held
        # WHEN the server is told to stop
        proc.send_signal(signal.SIGINT)
        # THEN the poll is answered (nothing to do), and the server exits 0 well within its
        # graceful shutdown, with no traceback in its log
        poll.join(timeout=10)
        assert not poll.is_alive()
        assert answers[0].status_code == 200
        assert answers[0].json()["queues"] == []
        assert proc.wait(timeout=10) == 0
    log = (tmp_path / "data").parent.glob("serve-*.log")
    text = "".join(path.read_text() for path in log)
    assert "launchq stopped by SIGINT" in text
    assert "Traceback" not in text
    assert "CancelledError" not in text
