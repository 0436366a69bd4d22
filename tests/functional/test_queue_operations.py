"""Operating a queue against a real ``launchq serve``: ``runs stop -q``, ``queue delete --force``
and ``serve --no-dispatch``, through the installed ``launchq`` command and over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.functional.helpers import create_queue, enqueue, py, wait_state
from tests.functional.test_cli_tty import ANSI, _in_terminal
from tests.servers import launchq_serve

LAUNCHQ = str(Path(sys.executable).parent / "launchq")

LONG = "import time; print('working', flush=True); time.sleep(60)"
STUBBORN = (  # ignores SIGTERM, so its stop takes the server's grace period (2 s in tests)
    "import signal, time; signal.signal(signal.SIGTERM, lambda *_: None); "
    "print('working', flush=True); time.sleep(60)"
)


def cli(server: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``launchq`` command, stdout and stderr piped (no terminal)."""
    env = {**os.environ, "LAUNCHQ_URL": server, "COLUMNS": "200"}
    return subprocess.run([LAUNCHQ, *args], env=env, capture_output=True, text=True, timeout=60)


def busy_queue(api: httpx.Client, name: str, job: str = LONG, queued: int = 2) -> tuple[str, list[str]]:
    """A one-slot queue with a job running and ``queued`` runs waiting behind it."""
    create_queue(api, name, max_jobs=1)
    running = enqueue(api, name, entry_point=py(job))["id"]
    wait_state(api, running, {"running"})
    return running, [enqueue(api, name, entry_point=py(job))["id"] for _ in range(queued)]


def test_runs_stop_q_clears_the_line_then_stops_the_rest(server: str, api: httpx.Client) -> None:
    # GIVEN a busy one-slot queue with two runs waiting
    running, waiting = busy_queue(api, "gpu")
    # WHEN only its queued runs are stopped
    done = cli(server, "runs", "stop", "-q", "gpu", "--state", "queued")
    # THEN both are cancelled and the running job goes on
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped 2 runs of queue gpu"
    assert {api.get(f"/runs/{run_id}").json()["state"] for run_id in waiting} == {"cancelled"}
    assert api.get(f"/runs/{running}").json()["state"] == "running"
    # WHEN the rest of the queue is stopped
    done = cli(server, "runs", "stop", "-q", "gpu")
    # THEN the running job is stopped, and the event says why
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped 1 run of queue gpu"
    stopped = wait_state(api, running, {"stopped"})
    assert "stopped with the rest of queue gpu" in [event["reason"] for event in stopped["events"]]
    # and a second stop finds nothing left
    assert cli(server, "runs", "stop", "-q", "gpu").stdout.strip() == "stopped 0 runs of queue gpu"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "runs stop: give either a RUN_ID or --queue QUEUE"),
        (("0123456789abcdef", "-q", "default"), "runs stop: give either a RUN_ID or --queue QUEUE"),
        (("0123456789abcdef", "--state", "queued"), "--state only goes with --queue"),
        (("-q", "default", "--state", "bogus"), "states: 'bogus' is not a run state; runs can be stopped in"),
        (("-q", "default", "--state", "finished"), "states: 'finished' has ended"),
        (("-q", "nope"), "queue 'nope' does not exist"),
    ],
)
def test_runs_stop_usage_errors_exit_2_with_one_line(
    server: str, args: tuple[str, ...], message: str
) -> None:
    done = cli(server, "runs", "stop", *args)
    assert done.returncode == 2, done
    assert done.stderr.startswith("Error: "), done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_the_stop_api_answers_4xx_naming_the_field(api: httpx.Client) -> None:
    create_queue(api, "gpu")
    cases = [
        ({"states": ["bogus"]}, "states"),
        ({"states": []}, "states"),
        ({"states": "queued"}, "states"),
        ({"other": 1}, "other"),
    ]
    for body, field in cases:
        response = api.post("/queues/gpu/stop", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, response.text
    missing = api.post("/queues/nope/stop")
    assert (missing.status_code, missing.json()["field"]) == (404, "queue")
    bad_force = api.delete("/queues/gpu", params={"force": "maybe"})
    assert (bad_force.status_code, bad_force.json()["field"]) == (422, "force")
    assert api.get("/queues/gpu").status_code == 200


def test_the_stop_api_without_a_body_stops_every_run_not_ended(api: httpx.Client) -> None:
    running, waiting = busy_queue(api, "gpu", queued=1)
    answer = api.post("/queues/gpu/stop")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["queue"] == "gpu"
    assert sorted(body["stopped"]) == sorted([running, *waiting])
    assert body["count"] == 2
    wait_state(api, running, {"stopped"})


def test_queue_delete_force_waits_for_jobs_to_stop_then_deletes(server: str, api: httpx.Client) -> None:
    # GIVEN a queue with a job that takes the whole grace period to stop, and one run waiting
    running, waiting = busy_queue(api, "gpu", job=STUBBORN, queued=1)
    # WHEN it is deleted without --force, THEN it is refused and nothing is touched
    refused = cli(server, "queue", "delete", "gpu")
    assert refused.returncode == 2
    assert "still holds 2 queued or active runs" in refused.stderr
    assert api.get(f"/runs/{waiting[0]}").json()["state"] == "queued"
    # WHEN it is deleted with --force
    done = cli(server, "queue", "delete", "gpu", "--force")
    # THEN it waited (a status line on stderr, piped), then deleted the queue
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "deleted queue gpu"
    assert "queue gpu: waiting for 1 run(s) to stop" in done.stderr
    assert api.get("/queues/gpu").status_code == 404
    # and its runs stay readable, each with why it ended
    job = api.get(f"/runs/{running}").json()
    assert job["state"] == "stopped"
    assert "its queue gpu is being deleted" in [event["reason"] for event in job["events"]]
    assert api.get(f"/runs/{waiting[0]}").json()["state"] == "cancelled"
    logs = api.get(f"/runs/{running}/logs")
    assert logs.status_code == 404
    assert "its queue 'gpu' was deleted" in logs.json()["detail"]


def test_queue_delete_force_on_a_terminal_shows_a_spinner_then_clears_it(
    server: str, api: httpx.Client
) -> None:
    busy_queue(api, "gpu", job=STUBBORN, queued=0)
    status, screen = _in_terminal(server, "queue", "delete", "gpu", "--force")
    assert status == 0, screen
    # the status line is redrawn in place (each frame erases the line), then erased for good
    waiting = "queue gpu: waiting for 1 run(s) to stop"
    assert screen.count(waiting) > 1, screen
    assert screen.count("\x1b[2K") >= screen.count(waiting), screen
    assert ANSI.sub("", screen).splitlines()[-1].strip() == "deleted queue gpu"
    assert api.get("/queues/gpu").status_code == 404


def test_queue_delete_force_gives_up_after_wait_and_names_what_is_left(
    server: str, api: httpx.Client
) -> None:
    running, _ = busy_queue(api, "gpu", job=STUBBORN, queued=0)
    done = cli(server, "queue", "delete", "gpu", "--force", "--wait", "0")
    assert done.returncode == 1, done
    assert "Error: queue gpu not deleted: 1 run(s) still stopping after 0 s" in done.stderr
    assert api.get("/queues/gpu").status_code == 200  # nothing half-deleted
    wait_state(api, running, {"stopped"})
    again = cli(server, "queue", "delete", "gpu", "--force")
    assert again.returncode == 0, again.stderr
    assert api.get("/queues/gpu").status_code == 404


def test_queue_delete_wait_without_force_is_a_usage_error(server: str, api: httpx.Client) -> None:
    create_queue(api, "gpu")
    done = cli(server, "queue", "delete", "gpu", "--wait", "5")
    assert done.returncode == 2
    assert "--wait only goes with --force" in done.stderr
    assert api.get("/queues/gpu").status_code == 200


@pytest.mark.parametrize("how", ["flag", "env"])
def test_serve_no_dispatch_serves_the_api_and_still_expires_claims(tmp_path: Path, how: str) -> None:
    args, env = (("--no-dispatch",), {}) if how == "flag" else ((), {"LAUNCHQ_NO_DISPATCH": "1"})
    with (
        launchq_serve(tmp_path / "data", *args, **env) as base,
        httpx.Client(base_url=base, timeout=30) as api,
    ):
        log = next(tmp_path.glob("serve-*.log")).read_text()
        assert "dispatch off" in log
        # GIVEN a run on the server-dispatched default queue and one on an agents queue
        local = enqueue(api, "default", entry_point=py("print('hi')"))["id"]
        create_queue(api, "remote", dispatch="agents")
        remote = enqueue(api, "remote", entry_point=py("print('hi')"))["id"]
        # WHEN an agent claims the agents' run and dies without renewing its lease
        claimed = api.post("/agents/claim", json={"agent": "gone", "queue": "remote", "lease_seconds": 10})
        assert claimed.status_code == 200, claimed.text
        assert api.get(f"/runs/{remote}").json()["state"] == "claimed"
        # THEN the claim expires and the run goes back in line for another agent
        back = wait_state(api, remote, {"queued"}, timeout=40)
        assert back["events"][-1]["reason"] == "claim expired; back in line"
        # and in all that time no dispatcher launched the default queue's run
        assert api.get(f"/runs/{local}").json()["state"] == "queued"
