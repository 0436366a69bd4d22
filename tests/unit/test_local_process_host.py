"""``Target.sees`` for the local-process target: which host's reconciler polls which job.

Split from test_agent_service.py. A control plane and its agents (or two machines sharing a
store) each run a reconciler; a local process can only be polled on the host that started
it, so a run's handle names that host (``HOST_KEY``), an id kept once per data directory.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from launchq.adapters.targets.local_process import LocalProcessTarget
from launchq.adapters.targets.local_process_host import HOST_FILE, HOST_KEY, host_id
from launchq.domain.models import Run, RunSpec
from tests.unit.fakes import Clock


def test_the_host_id_is_made_once_per_data_directory(tmp_path: Path) -> None:
    first = host_id(tmp_path / "a")
    assert host_id(tmp_path / "a") == first
    assert (tmp_path / "a" / HOST_FILE).read_text().strip() == first
    assert host_id(tmp_path / "b") != first
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [HOST_FILE]  # no draft left behind


def test_a_local_process_target_sees_only_its_own_hosts_jobs(tmp_path: Path) -> None:
    mine = LocalProcessTarget(tmp_path / "mine")
    theirs = LocalProcessTarget(tmp_path / "theirs")
    now = Clock()()
    run = Run(
        id="r1",
        queue="q",
        entity="e",
        spec=RunSpec(entry_point=[sys.executable, "-c", "pass"]),
        created_at=now,
        updated_at=now,
    )
    handle = mine.submit(run)
    launched = run.model_copy(update={"handle": handle})
    assert handle[HOST_KEY] == mine.host
    assert mine.sees(launched)
    assert LocalProcessTarget(tmp_path / "mine").sees(launched)  # after a restart on the same data dir
    assert not theirs.sees(launched)
    old = launched.model_copy(update={"handle": {k: v for k, v in handle.items() if k != HOST_KEY}})
    assert theirs.sees(old)  # a run from before hosts keeps working
    deadline = time.monotonic() + 10
    while mine.status(launched).state not in ("finished", "failed") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert mine.status(launched).state == "finished"
