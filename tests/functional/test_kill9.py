"""``launchq serve`` killed with SIGKILL at random moments, again and again, while it launches
runs: no run is lost and no job starts twice (issue 14). Real server processes on one data
directory (SQLite, local-process jobs, which outlive the server in their own sessions).

Each job appends its run id to one file as it starts. The server is killed 8 times, at
random moments (seeded, and the seed printed), then left to finish; every run must end
``finished`` and every run id must appear in the file exactly once. Random kills rarely land
in the microseconds between a job's start and its record; ``test_crash_relaunch`` puts a
crash exactly there.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import httpx

from tests.functional.helpers import TERMINAL, create_queue, enqueue, py
from tests.servers import launchq_serve_process

RUNS = 40
KILLS = 8
ENV = {"LAUNCHQ_LEASE_SECONDS": "2"}  # a lost launch goes back in line 2 s later


def test_no_run_lost_and_no_job_started_twice_across_kill_9(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    rng = random.Random(seed)
    data, starts = tmp_path / "data", tmp_path / "starts"
    # GIVEN a queue of 40 runs, 4 at a time, each job noting its start and working a moment
    ids: list[str] = []
    note_start = f"import os, time\nopen({str(starts)!r}, 'a').write(os.environ['LAUNCHQ_RUN_ID'] + '\\n')\n"
    with launchq_serve_process(data, "--no-dispatch") as (server, _), httpx.Client(base_url=server) as api:
        create_queue(api, "soak", max_jobs=4)
        for index in range(RUNS):
            code = f"{note_start}time.sleep({rng.uniform(0, 0.4):.2f})"
            ids.append(enqueue(api, "soak", entry_point=py(code), name=f"r{index}")["id"])
    # WHEN a server dispatches them and is killed with SIGKILL 8 times at random moments
    for _ in range(KILLS):
        with launchq_serve_process(data, **ENV) as (_, proc):
            time.sleep(rng.uniform(0.2, 1.5))
            proc.kill()
            proc.wait()
    # AND a last server is left to finish
    with launchq_serve_process(data, **ENV) as (server, _), httpx.Client(base_url=server, timeout=10) as api:
        deadline = time.monotonic() + 180
        runs: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            runs = api.get("/runs", params={"queue": "soak", "limit": 1000}).json()["runs"]
            if len(runs) == RUNS and all(run["state"] in TERMINAL for run in runs):
                break
            time.sleep(0.2)
    # THEN every run finished, and every job started exactly once
    assert sorted(str(run["state"]) for run in runs) == ["finished"] * RUNS, (seed, runs)
    started = Counter(starts.read_text().split())
    assert {run_id: count for run_id, count in started.items() if count != 1} == {}, seed
    assert set(started) == set(ids), seed
