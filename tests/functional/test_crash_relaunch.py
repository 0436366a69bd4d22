"""A dispatcher killed between starting a job and recording it: the job is found again, never
started twice (issue 14, crash safety), against real ``launchq serve`` processes.

The crash point is made exactly: a ``launchq serve --no-dispatch`` stores the queue and the
run; the test then does what a dispatcher does up to the crash (the store's claim with a
1-second lease, the local-process target's submit) and stops there, as a ``kill -9`` would.
A new ``launchq serve`` on the same data directory expires the claim, puts the run back at its
place, claims it again and submits it again: the submit adopts the job the lost launch started.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.adapters.targets.local_process import LocalProcessTarget
from tests.functional.helpers import TERMINAL, create_queue, enqueue, py, wait_state
from tests.servers import launchq_serve


def test_a_launch_lost_to_a_crash_is_adopted_not_started_again(tmp_path: Path) -> None:
    # GIVEN a queued run whose job counts its starts in a file and runs a few seconds
    data, starts = tmp_path / "data", tmp_path / "starts"
    job = py(f"import time\nopen({str(starts)!r}, 'a').write('start\\n')\ntime.sleep(3)")
    with launchq_serve(data, "--no-dispatch") as server, httpx.Client(base_url=server, timeout=10) as api:
        create_queue(api, "crash", max_jobs=1)
        run_id = enqueue(api, "crash", entry_point=job)["id"]
    # AND a dispatcher that claimed it and started its job, then died before writing that down
    store = SqliteRunStore(data / "launchq.db")
    now = datetime.now(UTC)
    claimed = store.claim("crash", now, now + timedelta(seconds=1))
    store.close()
    assert claimed is not None
    assert claimed.id == run_id
    LocalProcessTarget(data).submit(claimed)
    # WHEN a new server starts on the same data directory (claims expire after 1 s)
    env = {"LAUNCHQ_LEASE_SECONDS": "1"}
    with launchq_serve(data, **env) as server, httpx.Client(base_url=server, timeout=10) as api:
        final = wait_state(api, run_id, TERMINAL, timeout=60)
    # THEN the run finished with the job the lost launch started: it ran once
    assert final["state"] == "finished", final
    assert starts.read_text() == "start\n"
    reasons = [event["reason"] for event in final["events"]]
    assert "claim expired; back in line" in reasons
    assert sum(reason.startswith("claimed by") for reason in reasons) == 2
