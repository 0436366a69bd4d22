"""Runs per second and enqueue -> process-start latency through a real ``launchq serve``.

``python -m tests.perf.local_exit_bench [N] [MAX_JOBS...]`` prints, for each ``max_jobs``,
how long N runs of ``true`` take from the first enqueue until every one has ended (the
runs are enqueued over HTTP by a few client threads, so the client's round trips do not
set the pace), then the enqueue -> process-start latency of single runs on an idle
server. ``make bench`` reports the same figures (``tests/perf/http_bench.py``); this one
is the quick before/after tool, so it also prints the server's CPU per run.

What "process start" means here: the job is ``date +%s%N``, whose first act is to read
the clock, so the latency is from just before the client sends the POST to the moment the
job runs, with the job's own exec included (about a millisecond for ``date``). Nothing
here asserts a speed.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from tests.functional.helpers import TERMINAL, create_queue, enqueue
from tests.servers import launchq_serve_process

CLIENTS = 4
"""Client threads that enqueue a burst (each with its own keep-alive connection)."""
SLOTS = (1, 4, 8)
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Burst:
    """How one burst went: seconds from the first enqueue to the last end, how runs ended,
    and the CPU seconds the server process spent (its own, and its reaped children's: the
    supervisors and jobs) from the first enqueue until the last run ended."""

    runs: int
    seconds: float
    enqueue_seconds: float
    ended: dict[str, int]
    server_cpu: float
    children_cpu: float

    @property
    def rate(self) -> float:
        return self.runs / self.seconds


@contextmanager
def _server() -> Iterator[tuple[httpx.Client, Path, int]]:
    """A fresh ``launchq serve`` (reconciler tick 1 s), a client, an empty source dir and
    the server's pid."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        launchq_serve_process(Path(tmp) / "data", LAUNCHQ_POLL_INTERVAL="1") as (base, proc),
        httpx.Client(base_url=base, timeout=60) as api,
    ):
        source = Path(tmp) / "source"
        source.mkdir()
        yield api, source, proc.pid


def _cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of process ``pid``: its own (user + system) and its reaped children's."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    own = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    children = (int(fields[13]) + int(fields[14])) / ticks  # cutime, cstime
    return own, children


def burst(runs: int, max_jobs: int, clients: int = CLIENTS) -> Burst:
    """Enqueue ``runs`` runs of ``true`` on a ``max_jobs`` queue and wait until all ended."""
    with _server() as (api, source, pid):
        create_queue(api, "bench", max_jobs=max_jobs)
        base = str(api.base_url)
        shares = [runs // clients + (1 if i < runs % clients else 0) for i in range(clients)]

        def enqueue_share(count: int) -> list[str]:
            with httpx.Client(base_url=base, timeout=60) as own:
                return [
                    enqueue(own, "bench", uri=str(source), entry_point=["true"])["id"] for _ in range(count)
                ]

        cpu_before = _cpu(pid)
        started = time.time()
        with ThreadPoolExecutor(clients) as pool:
            ids = [run_id for share in pool.map(enqueue_share, shares) for run_id in share]
        enqueued = time.time() - started
        last, ended = _wait_all_ended(api, "bench", ids)
        cpu_after = _cpu(pid)
        own, children = (after - before for after, before in zip(cpu_after, cpu_before, strict=True))
        return Burst(runs, last - started, enqueued, ended, own, children)


def _wait_all_ended(api: httpx.Client, queue: str, ids: list[str]) -> tuple[float, dict[str, int]]:
    """Wait until every run ended; return when the last one ended (epoch seconds, the
    server's ``finished_at``) and how they ended. Polling is slow and cheap (the last run
    every 50 ms, the whole list only once it ended), so it barely loads the server, and
    the end time comes from the runs themselves, not from when the poll noticed."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if api.get(f"/runs/{ids[-1]}").json()["state"] in TERMINAL:
            listed = api.get("/runs", params={"queue": queue, "limit": len(ids)}).json()["runs"]
            states = [r["state"] for r in listed]
            if len(states) == len(ids) and all(s in TERMINAL for s in states):
                last = max(datetime.fromisoformat(r["finished_at"]).timestamp() for r in listed)
                return last, {s: states.count(s) for s in sorted(set(states))}
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"{len(ids)} runs did not all end within 600 s")


def start_latencies(samples: int) -> list[float]:
    """Milliseconds from enqueue to the job's first act, one run at a time on an idle server."""
    latencies: list[float] = []
    with _server() as (api, source, _):
        create_queue(api, "idle", max_jobs=1)
        for _ in range(samples + 1):  # the first one warms the server up and is not counted
            time.sleep(0.05)  # idle: the previous run has settled, the dispatcher sleeps
            sent = time.time_ns()
            run_id = enqueue(api, "idle", uri=str(source), entry_point=["date", "+%s%N"])["id"]
            _wait_all_ended(api, "idle", [run_id])
            text = api.get(f"/runs/{run_id}/logs").json()["text"]
            latencies.append((int(text.strip()) - sent) / 1e6)
    return latencies[1:]


def _percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    slots = [int(arg) for arg in sys.argv[2:]] or list(SLOTS)
    print(f"{os.cpu_count()} cores")
    for max_jobs in slots:
        result = burst(runs, max_jobs)
        print(
            f"{runs} runs of `true`, max_jobs {max_jobs}: {result.seconds:.2f} s "
            f"(enqueued in {result.enqueue_seconds:.2f} s), {result.rate:.1f} runs/s, ended {result.ended}; "
            f"CPU per run: server {result.server_cpu / runs * 1000:.1f} ms, "
            f"supervisors and jobs {result.children_cpu / runs * 1000:.1f} ms"
        )
    latencies = start_latencies(50)
    print(
        f"enqueue -> start on an idle server, {len(latencies)} runs: "
        f"p50 {_percentile(latencies, 50):.1f} ms, p99 {_percentile(latencies, 99):.1f} ms"
    )


if __name__ == "__main__":
    main()
