"""Runs of ``true`` per second through a real ``launchq serve`` (local-process target).

``python -m tests.perf.local_exit_bench [N] [MAX_JOBS]`` enqueues N runs of ``true`` on a
fresh queue with ``max_jobs`` slots, waits until every one has ended and prints the rate.
It measures how soon a slot frees after its job exits; nothing here asserts a speed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.functional.helpers import TERMINAL, create_queue, enqueue
from tests.servers import launchq_serve


def measure(runs: int, max_jobs: int) -> tuple[float, dict[str, int]]:
    """Seconds from the first enqueue until all ``runs`` ended, and how they ended."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        launchq_serve(Path(tmp) / "data", LAUNCHQ_POLL_INTERVAL="1") as base,
    ):
        source = Path(tmp) / "source"
        source.mkdir()
        with httpx.Client(base_url=base, timeout=30) as api:
            create_queue(api, "bench", max_jobs=max_jobs)
            started = time.monotonic()
            ids = [enqueue(api, "bench", uri=str(source), entry_point=["true"])["id"] for _ in range(runs)]
            states: dict[str, int] = {}
            while True:
                items = api.get("/runs", params={"queue": "bench", "limit": runs}).json()["runs"]
                ended = [r for r in items if r["state"] in TERMINAL]
                if len(ended) >= len(ids):
                    elapsed = time.monotonic() - started
                    for r in ended:
                        states[r["state"]] = states.get(r["state"], 0) + 1
                    return elapsed, states
                time.sleep(0.02)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    max_jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    elapsed, states = measure(runs, max_jobs)
    print(
        f"{runs} runs of `true`, max_jobs {max_jobs}, {os.cpu_count()} cores: "
        f"{elapsed:.2f} s, {runs / elapsed:.1f} runs/s, ended {states}"
    )


if __name__ == "__main__":
    main()
