"""``make bench`` group "enqueue": how fast ``launchq serve`` takes enqueue requests.

The burst figures of ``http_bench`` mix two costs: taking the enqueues and starting the
runs. This group measures the first alone: a queue whose one slot is held by a sleeping
run, so nothing is dispatched while N enqueues (four priorities in turn) arrive from K
client threads, and the line grows to N deep as it would in a burst. Every request must
answer 201 with a place in line, or the bench fails. The blockers are stopped at the end.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.functional.helpers import create_queue, enqueue, wait_state
from tests.perf.figures import Figure, Scale, summarise
from tests.perf.http_bench import PRIORITIES, progress, served

GROUP = "enqueue"
THREADS = (4, 16)
BLOCKER = ["sleep", "3600"]


def _enqueue_rate(api: httpx.Client, queue: str, count: int, threads: int) -> tuple[float, str]:
    """Enqueues/s of ``count`` runs from ``threads`` client threads; and the blocker's run id."""
    create_queue(api, queue, max_jobs=1)
    blocker = str(enqueue(api, queue, entry_point=BLOCKER)["id"])
    wait_state(api, blocker, {"running"})

    def one(i: int) -> None:
        run = enqueue(api, queue, entry_point=["true"], priority=PRIORITIES[i % len(PRIORITIES)])
        if run.get("position") is None:
            raise RuntimeError(f"enqueue on {queue} answered no place in line: {run}")

    began = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(count)))
    return count / (time.monotonic() - began), blocker


def run(scale: Scale) -> list[Figure]:
    count = scale.pick(1000, 50)
    figures: list[Figure] = []
    with served() as api:
        blockers: list[str] = []
        for threads in THREADS:
            progress(f"enqueue rate, {count} enqueues x {scale.repetitions}, {threads} client threads")
            samples = []
            for rep in range(scale.repetitions):
                rate, blocker = _enqueue_rate(api, f"enqueue-{threads}-{rep}", count, threads)
                samples.append(rate)
                blockers.append(blocker)
            figures.append(
                summarise(
                    GROUP,
                    f"enqueue rate, {count:,} enqueues, {threads} client threads",
                    "enqueues/s",
                    samples,
                    note="slot held: nothing dispatched, line grows to N",
                )
            )
        for blocker in blockers:
            api.post(f"/runs/{blocker}/stop")
    return figures
