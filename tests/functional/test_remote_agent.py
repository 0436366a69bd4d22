"""``launchq agent --url``: agents in processes (and data directories) of their own pull the
runs of a ``dispatch: agents`` queue from one real ``launchq serve`` over HTTP."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.functional.helpers import TERMINAL, create_queue, enqueue, wait_state
from tests.helpers import most_at_once
from tests.loopback_http import LoopbackServer, QuietHandler
from tests.servers import launchq_serve, stop_process

RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
# A job that notes its label, its agent and its start, runs a little, and notes its end.
NOTE_JOB = (
    'echo "$1 $AGENT_NAME start $(date +%s.%N)" >> {log}; sleep 0.05; echo "$1 end $(date +%s.%N)" >> {log}'
)


@contextmanager
def _agent(data_dir: Path, *args: str, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """A ``launchq agent`` process serving queue ``gpu``; SIGTERM (then SIGKILL) on exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHQ_")}
    child_env |= {"LAUNCHQ_POLL_INTERVAL": "0.5", **env}
    argv = [
        sys.executable,
        "-m",
        "launchq.cli.main",
        "agent",
        "-q",
        "gpu",
        "--data-dir",
        str(data_dir),
        *args,
    ]
    with (data_dir / "agent.log").open("ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=child_env)
    try:
        yield proc
    finally:
        stop_process(proc, signal.SIGTERM, timeout=20)


def _log(data_dir: Path) -> str:
    return (data_dir / "agent.log").read_text(errors="replace")


def _full(api: httpx.Client, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The whole run (handle, seq, started_at) and its events, as an agent reads them."""
    body = api.get(f"/agents/runs/{run_id}").json()
    return body["run"], body["events"]


def _wait_all(api: httpx.Client, ids: list[str], timeout: float) -> int:
    """Wait until every run ended; the most runs active at once on the queue meanwhile."""
    most, deadline = 0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        most = max(most, api.get("/queues/gpu").json()["active"])
        runs = api.get("/runs", params={"queue": "gpu", "limit": 1000}).json()["runs"]
        if sum(run["state"] in TERMINAL for run in runs) == len(ids):
            return most
        time.sleep(0.1)
    raise AssertionError(f"not every run ended in {timeout}s")


def test_two_agents_launch_every_run_once_in_priority_order_within_max_jobs(tmp_path: Path) -> None:
    # GIVEN a control plane with 200 runs of four priorities, in random order, on an agents queue
    notes = tmp_path / "notes.txt"
    script = NOTE_JOB.format(log=notes)
    rng = random.Random(11)
    with launchq_serve(tmp_path / "server") as url, httpx.Client(base_url=url, timeout=30) as api:
        # jobs start in a clean environment: the queue passes on the agent's name (inherit_env)
        create_queue(api, "gpu", dispatch="agents", max_jobs=2, config={"inherit_env": ["AGENT_NAME"]})
        ids, priority_of = [], {}
        for label in range(200):
            priority = rng.choice(list(RANK))
            run = enqueue(api, "gpu", entry_point=["/bin/sh", "-c", script, "sh"], args=[str(label)],
                          priority=priority)  # fmt: skip
            ids.append(run["id"])
            priority_of[str(label)] = priority

        # WHEN two agents with their own data directories pull from it (each could take 2 at once)
        with (
            _agent(tmp_path / "a1", "--url", url, "-j", "2", AGENT_NAME="a1") as one,
            _agent(tmp_path / "a2", "--url", url, "-j", "2", AGENT_NAME="a2") as two,
        ):
            most_active = _wait_all(api, ids, timeout=240)
            assert one.poll() is None, _log(tmp_path / "a1")
            assert two.poll() is None, _log(tmp_path / "a2")
        runs = [_full(api, run_id) for run_id in ids]

    # THEN every run finished, and each job ran exactly once
    assert [run["state"] for run, _ in runs] == ["finished"] * 200
    lines = [line.split() for line in notes.read_text().splitlines()]
    starts = [(label, agent, float(at)) for label, agent, kind, at in (x for x in lines if len(x) == 4)]
    ends = {label: float(at) for label, kind, at in (x for x in lines if len(x) == 3)}
    assert sorted(label for label, _, _ in starts) == sorted(map(str, range(200)))
    assert len(ends) == 200
    assert {agent for _, agent, _ in starts} == {"a1", "a2"}  # both agents took part
    for _, events in runs:
        moves = [(e["from_state"], e["to_state"]) for e in events]
        assert moves.count(("queued", "claimed")) == 1, moves  # claimed once, never requeued
        assert moves.count(("claimed", "starting")) == 1, moves

    # AND each agent started its runs in priority order (FIFO within a priority)
    by_host: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run, _ in runs:
        by_host[run["handle"]["host"]].append(run)
    assert len(by_host) == 2
    for host_runs in by_host.values():
        order = [(RANK[r["priority"]], r["seq"]) for r in sorted(host_runs, key=lambda r: r["started_at"])]
        assert order == sorted(order)

    # AND never more than max_jobs (2) ran at once, by the jobs' own clocks and the queue's count
    assert most_at_once([(at, ends[label]) for label, _, at in starts]) == 2
    assert most_active <= 2


class _HoldingProxy(LoopbackServer):
    """Forwards to ``upstream``. Once ``armed``, the first claim that gets a run turns
    ``holding`` on: from then a ``GET /queues/...`` waits for ``release`` (then fails).

    It stalls an agent between claiming a run and submitting it (the dispatcher looks up the
    run's queue right after its claim), as a slow network would.
    """

    def __init__(self, upstream: str) -> None:
        self.armed, self.holding = threading.Event(), threading.Event()
        self.release, self.held = threading.Event(), threading.Event()
        self._http = httpx.Client(base_url=upstream, timeout=30)
        proxy = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                body = self.read_body()
                if self.command == "GET" and self.path.startswith("/queues/") and proxy.holding.is_set():
                    proxy.held.set()
                    proxy.release.wait(60)
                    with contextlib.suppress(OSError):  # its agent was killed meanwhile
                        self.answer(503, {"content-type": "application/json"}, b'{"detail": "held"}')
                    return
                headers = {"content-type": self.headers.get("content-type", "application/json")}
                answer = proxy._http.request(self.command, self.path, content=body, headers=headers)
                if self.path == "/agents/claim" and proxy.armed.is_set() and answer.json().get("run"):
                    proxy.holding.set()
                self.answer(answer.status_code, {"content-type": "application/json"}, answer.content)

            do_GET = do_POST = _serve

        super().__init__(Handler)

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        super().__exit__(*exc)
        self._http.close()


def test_a_killed_agents_claims_go_back_in_line_and_its_job_is_readopted(tmp_path: Path) -> None:
    # GIVEN a control plane, and agent 1 (10 s leases) running job A, which waits for a file
    release = tmp_path / "release-a"
    wait_then_fail = (
        f'echo "job A up"; while [ ! -e {release} ]; do sleep 0.1; done; echo "job A done"; exit 3'
    )
    with (
        launchq_serve(tmp_path / "server") as url,
        httpx.Client(base_url=url, timeout=30) as api,
        _HoldingProxy(url) as proxy,
    ):
        create_queue(api, "gpu", dispatch="agents", max_jobs=-1)
        job_a = enqueue(api, "gpu", entry_point=["/bin/sh", "-c", wait_then_fail])["id"]
        with _agent(tmp_path / "a1", "--url", proxy.url, "-j", "2", LAUNCHQ_LEASE_SECONDS="10") as one:
            wait_state(api, job_a, {"running"}, timeout=60)
            # AND run B claimed by agent 1 but stalled before its submission
            proxy.armed.set()
            job_b = enqueue(api, "gpu", entry_point=["/bin/sh", "-c", "echo job B ran"])["id"]
            wait_state(api, job_b, {"claimed"}, timeout=30)
            assert proxy.held.wait(30)

            # WHEN agent 1 is killed
            one.kill()
            one.wait()
        a_host = _full(api, job_a)[0]["handle"]["host"]

        # THEN B goes back in line after the lease and another agent (its own directory) runs it,
        # leaving A alone: it cannot see A's job
        with _agent(tmp_path / "a2", "--url", url):
            b = wait_state(api, job_b, {"finished"}, timeout=60)
            assert api.get(f"/runs/{job_a}").json()["state"] == "running"
        b_run, b_events = _full(api, job_b)
        moves = [(e["from_state"], e["to_state"], e["reason"]) for e in b_events]
        assert ("claimed", "queued", "claim expired; back in line") in moves, moves
        assert [m[:2] for m in moves].count(("queued", "claimed")) == 2
        assert b_run["handle"]["host"] != a_host
        assert api.get(f"/runs/{job_b}/logs").json()["text"] == "job B ran\n"

        # AND a new agent on agent 1's data directory re-adopts A and records its exit and log
        with _agent(tmp_path / "a1", "--url", url):
            release.touch()
            a = wait_state(api, job_a, TERMINAL, timeout=60)
            log = wait_log(api, job_a, "job A done")
    assert (a["state"], a["exit_code"]) == ("failed", 3), a["events"]
    assert a["reason"].startswith("exited with code 3"), a["reason"]
    assert b["exit_code"] == 0
    assert log == "job A up\njob A done\n"


def wait_log(api: httpx.Client, run_id: str, last_line: str, timeout: float = 20) -> str:
    """The shipped log of ``run_id`` once it holds ``last_line``."""
    deadline, text = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        text = api.get(f"/runs/{run_id}/logs").json()["text"]
        if last_line in text:
            return str(text)
        time.sleep(0.1)
    raise AssertionError(f"the log of {run_id} never showed {last_line!r}: {text!r}")


def test_agent_url_from_the_environment_and_api_key_rules(tmp_path: Path) -> None:
    # GIVEN a control plane with an agents queue holding one run, and a queue it dispatches itself
    with launchq_serve(tmp_path / "server") as url, httpx.Client(base_url=url, timeout=30) as api:
        create_queue(api, "gpu", dispatch="agents")
        create_queue(api, "cpu")
        run_id = enqueue(api, "gpu", entry_point=["/bin/sh", "-c", "echo from env"])["id"]

        # WHEN an agent is given the URL and an API key only in its environment (loopback: allowed)
        with _agent(tmp_path / "env-agent", LAUNCHQ_URL=url, LAUNCHQ_API_KEY="k-loopback"):
            run = wait_state(api, run_id, {"finished"}, timeout=60)
        assert run["exit_code"] == 0

        # AND agents are pointed at what they must refuse
        refused = [
            _refusal(tmp_path, "--url", "http://gpu-control.example.com:8080", "--api-key", "s3cr3t-value"),
            _refusal(tmp_path, "--url", url, "-q", "cpu"),
            _refusal(tmp_path, "--api-key", "s3cr3t-value"),
        ]

    # THEN each says why in one line, with status 2, never echoing the key
    key_over_http, server_queue, key_alone = refused
    assert (
        "--api-key: refusing to send the API key over plain http:// to gpu-control.example.com"
        in key_over_http
    )
    assert "queue 'cpu' is dispatched by the control plane itself" in server_queue
    assert "--api-key: only used with --url" in key_alone
    for out in refused:
        assert out.startswith("Error: "), out
        assert out.count("\n") == 1, out
        assert "s3cr3t" not in out
        assert "Traceback" not in out


def _refusal(tmp_path: Path, *args: str) -> str:
    """Run ``launchq agent`` expecting a refusal (exit 2); its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHQ_")}
    argv = [sys.executable, "-m", "launchq.cli.main", "agent", "-q", "gpu", "--data-dir", str(tmp_path / "x")]
    done = subprocess.run([*argv, *args], capture_output=True, env=env, timeout=60, check=False)
    assert done.returncode == 2, done
    return (done.stdout + done.stderr).decode()
