"""``make bench`` group "http": runs through a real ``launchq serve`` and the local-process target.

One server (SQLite, local processes, the reconciler at its default one-second tick) serves
the whole group, driven over HTTP as a user would drive it. Figures:

- throughput: N runs of ``true`` (four priorities in turn) on a fresh queue with
  ``max_jobs`` 1, 4 and 8, from the first enqueue until every run ended; every run must
  have finished, or the bench fails;
- enqueue -> process start, p50 and p99: each job is ``date +%s%N``, which prints when it
  started; its log line, read back through the API, is compared with the client's clock
  just before the enqueue request was sent (same machine, same clock). ``date`` is a tiny
  exec, so the figure is launchq's cost, not an interpreter's start. "Idle server, one run"
  enqueues singly and waits for each; "burst" enqueues all at once at ``max_jobs`` 8;
- enqueue rate: how fast that burst's enqueue requests are taken, from a few client threads,
  while the dispatcher is starting runs.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.functional.helpers import TERMINAL, create_queue
from tests.perf.figures import Figure, Scale, summarise
from tests.perf.peers_bench import jobs_for
from tests.servers import launchq_serve

GROUP = "http"
THROUGHPUT_SERIES = "launchq throughput"
SLOTS = (1, 4, 8)
BURST_SLOTS = 8
CLIENT_THREADS = 4
PRIORITIES = ("critical", "high", "medium", "low")
STAMP = ["date", "+%s%N"]  # prints the nanosecond clock when the job's process starts


def progress(message: str) -> None:
    print(f"  {GROUP}: {message}", file=sys.stderr, flush=True)


@contextmanager
def served() -> Iterator[httpx.Client]:
    """A client of a fresh ``launchq serve`` with its production reconciler tick (1 s)."""
    with (
        tempfile.TemporaryDirectory(prefix="launchq-bench-http-") as tmp,
        launchq_serve(Path(tmp) / "data", LAUNCHQ_POLL_INTERVAL="1") as base,
        httpx.Client(base_url=base, timeout=60) as api,
    ):
        yield api


def enqueue_one(api: httpx.Client, queue: str, entry_point: list[str], priority: str) -> tuple[str, int]:
    """Enqueue one run; its id and the client's clock (ns) just before the request was sent."""
    sent = time.time_ns()
    response = api.post(f"/queues/{queue}/runs", json={"entry_point": entry_point, "priority": priority})
    if response.status_code != 201:
        raise RuntimeError(f"enqueue on {queue} answered {response.status_code}: {response.text}")
    return str(response.json()["id"]), sent


def enqueue_burst(api: httpx.Client, queue: str, count: int, entry_point: list[str]) -> list[tuple[str, int]]:
    """``count`` runs over ``CLIENT_THREADS`` client threads, priorities in turn."""
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        return list(
            pool.map(
                lambda i: enqueue_one(api, queue, entry_point, PRIORITIES[i % len(PRIORITIES)]), range(count)
            )
        )


def wait_ended(api: httpx.Client, queue: str, count: int, poll: float = 0.02) -> None:
    """Until all ``count`` runs of ``queue`` ended; raise unless every one finished."""
    deadline = time.monotonic() + 120 + count
    while True:
        view = api.get(f"/queues/{queue}").json()
        if view["active"] == 0 and view["queued"] == 0:
            runs = api.get("/runs", params={"queue": queue, "limit": count}).json()["runs"]
            if len(runs) == count and all(r["state"] in TERMINAL for r in runs):
                unfinished = [
                    (r["id"], r["state"], r.get("reason")) for r in runs if r["state"] != "finished"
                ]
                if unfinished:
                    raise RuntimeError(f"{len(unfinished)} runs on {queue} did not finish: {unfinished[:3]}")
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"runs on {queue} still going: {view}")
        time.sleep(poll)


def started_ns(api: httpx.Client, run_id: str) -> int:
    """When the run's ``date +%s%N`` process started, from its log."""
    chunk = api.get(f"/runs/{run_id}/logs").json()
    try:
        return int(chunk["text"].split()[0])
    except (IndexError, ValueError):
        raise RuntimeError(
            f"run {run_id} ({chunk['state']}) logged no timestamp: {chunk['text']!r}"
        ) from None


def latencies_ms(api: httpx.Client, sent: list[tuple[str, int]]) -> list[float]:
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        starts = list(pool.map(lambda item: started_ns(api, item[0]), sent))
    return [(start - at) / 1e6 for (_, at), start in zip(sent, starts, strict=True)]


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98] if len(samples) > 1 else samples[0]


def throughput(api: httpx.Client, queue: str, count: int, slots: int) -> float:
    """Runs/s of ``count`` runs of ``true`` on a fresh queue with ``slots`` slots."""
    create_queue(api, queue, max_jobs=slots)
    started = time.monotonic()
    enqueue_burst(api, queue, count, ["true"])
    wait_ended(api, queue, count)
    return count / (time.monotonic() - started)


def idle_latencies(api: httpx.Client, queue: str, count: int) -> list[float]:
    """One run at a time on an otherwise idle server, each waited for before the next."""
    create_queue(api, queue, max_jobs=BURST_SLOTS)
    sent = []
    for _ in range(count):
        run_id, at = enqueue_one(api, queue, STAMP, "medium")
        sent.append((run_id, at))
        deadline = time.monotonic() + 60
        while (run := api.get(f"/runs/{run_id}").json())["state"] not in TERMINAL:
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {run_id} did not end within 60 s")
            time.sleep(0.01)
        if run["state"] != "finished":
            raise RuntimeError(f"run {run_id} ended {run['state']}: {run.get('reason')}")
    return latencies_ms(api, sent)


def burst(api: httpx.Client, queue: str, count: int) -> tuple[list[float], float]:
    """Latencies (ms) of a burst of ``count`` runs at ``max_jobs`` 8, and the enqueue rate."""
    create_queue(api, queue, max_jobs=BURST_SLOTS)
    began = time.monotonic()
    sent = enqueue_burst(api, queue, count, STAMP)
    rate = count / (time.monotonic() - began)
    wait_ended(api, queue, count)
    return latencies_ms(api, sent), rate


def _latency_figures(name: str, per_rep: list[list[float]], note: str) -> list[Figure]:
    return [
        summarise(
            GROUP, f"enqueue→start p50, {name}", "ms", [statistics.median(s) for s in per_rep], note=note
        ),
        summarise(GROUP, f"enqueue→start p99, {name}", "ms", [p99(s) for s in per_rep], note=note),
    ]


def run(scale: Scale) -> list[Figure]:
    count, singles, burst_size = jobs_for(scale), scale.pick(20, 5), scale.pick(1000, 50)
    reps = range(scale.repetitions)
    figures: list[Figure] = []
    with served() as api:
        progress(f"idle server, {singles} single runs x {scale.repetitions}")
        idle = [idle_latencies(api, f"idle-{rep}", singles) for rep in reps]
        figures += _latency_figures("idle server, one run", idle, f"{singles} runs one at a time")
        for slots in SLOTS:
            progress(f"throughput, {count} runs, max_jobs {slots} x {scale.repetitions}")
            samples = [throughput(api, f"tput-{slots}-{rep}", count, slots) for rep in reps]
            figures.append(
                summarise(
                    GROUP,
                    f"throughput, max_jobs {slots}",
                    "runs/s",
                    samples,
                    series=THROUGHPUT_SERIES,
                    x=slots,
                    note=f"{count} runs of `true`, 4 priorities, first enqueue to all ended",
                )
            )
        progress(f"burst of {burst_size}, max_jobs {BURST_SLOTS} x {scale.repetitions}")
        bursts = [burst(api, f"burst-{rep}", burst_size) for rep in reps]
    label = f"burst of {burst_size:,}, max_jobs {BURST_SLOTS}"
    figures += _latency_figures(label, [lat for lat, _ in bursts], "all enqueued at once, 4 priorities")
    figures.append(
        summarise(
            GROUP,
            f"enqueue rate, burst of {burst_size:,}",
            "enqueues/s",
            [rate for _, rate in bursts],
            note=f"{CLIENT_THREADS} client threads, while runs are dispatched",
        )
    )
    return figures
