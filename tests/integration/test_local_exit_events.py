"""A local job's exit is reported as it happens, not on the reconciler's next tick.

Every server here polls once a minute (LAUNCHQ_POLL_INTERVAL=60) and the waits give up
after 30 s, so a run that ends in time was moved by the exit notice, not by the reconciler
(whose only tick so far ran at start-up, before anything was enqueued).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.bootstrap import Services
from launchq.domain.models import RunSpec
from launchq.domain.states import TERMINAL, RunState
from launchq.local.loops import EARLY_FIRST_SECONDS, EarlyExits, Loops
from launchq.local.settings import LocalSettings
from launchq.local.wiring import build_local
from launchq.service.queues import QueueCreate
from tests.functional.helpers import create_queue, enqueue, py, wait_state
from tests.servers import launchq_serve

pytestmark = pytest.mark.integration

SLOW_POLL = "60"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[httpx.Client]:
    with (
        launchq_serve(tmp_path / "data", LAUNCHQ_POLL_INTERVAL=SLOW_POLL) as base,
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        yield client


def _reasons(run: dict[str, object]) -> list[str]:
    events = run["events"]
    assert isinstance(events, list)
    return [str(event["reason"]) for event in events]


def test_an_exit_finishes_the_run_and_starts_the_next(api: httpx.Client, tmp_path: Path) -> None:
    # GIVEN a queue with one slot and two no-op runs in line
    create_queue(api, "one", max_jobs=1)
    first = enqueue(api, "one", uri=str(tmp_path), entry_point=py("pass"))
    second = enqueue(api, "one", uri=str(tmp_path), entry_point=py("pass"))

    # WHEN the first job exits, THEN its run finishes and the second starts and finishes too
    done = wait_state(api, first["id"], {"finished", "failed", "stopped", "dead_letter"})
    assert done["state"] == "finished", _reasons(done)
    assert done["exit_code"] == 0
    assert _reasons(done)[-1] == "exited with code 0"
    after = wait_state(api, second["id"], {"finished", "failed", "stopped", "dead_letter"})
    assert after["state"] == "finished", _reasons(after)


def test_a_failing_job_fails_with_its_exit_code(api: httpx.Client, tmp_path: Path) -> None:
    create_queue(api, "fails", max_jobs=1)
    run = enqueue(api, "fails", uri=str(tmp_path), entry_point=py("raise SystemExit(3)"))

    ended = wait_state(api, run["id"], {"finished", "failed", "stopped", "dead_letter"})

    assert ended["state"] == "failed", _reasons(ended)
    assert ended["exit_code"] == 3
    assert _reasons(ended)[-1] == "exited with code 3"


def test_a_stopped_job_reaches_stopped(api: httpx.Client, tmp_path: Path) -> None:
    create_queue(api, "stops", max_jobs=1)
    sleeper = py("import time; time.sleep(120)")
    run = enqueue(api, "stops", uri=str(tmp_path), entry_point=sleeper)
    wait_state(api, run["id"], {"starting", "running"})

    response = api.post(f"/runs/{run['id']}/stop")
    assert response.status_code == 202, response.text

    stopped = wait_state(api, run["id"], {"finished", "failed", "stopped", "dead_letter"})
    assert stopped["state"] == "stopped", _reasons(stopped)
    assert stopped["exit_code"] == -15  # SIGTERM reached the job


@pytest.fixture
def services(tmp_path: Path) -> Services:
    services = build_local(LocalSettings(data_dir=tmp_path / "data", poll_interval=float(SLOW_POLL)))
    services.queues.ensure(QueueCreate(name="q", resource="local-process", max_jobs=2))
    return services


def _launchq_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("launchq-")}


def test_in_process_loops_settle_exits_and_leave_no_thread(services: Services, tmp_path: Path) -> None:
    # GIVEN the local loops in this process, with the reconciler's tick a minute away
    before = _launchq_threads()
    doorbell = services.ctx.doorbell
    assert isinstance(doorbell, InProcessDoorbell)
    loops = Loops(services, doorbell, poll_interval=float(SLOW_POLL))
    loops.start()
    try:
        # WHEN five no-op runs go through two slots
        ids = [
            services.runs.enqueue("q", RunSpec(uri=str(tmp_path), entry_point=py("pass")))[0].id
            for _ in range(5)
        ]
        # THEN each finishes on its exit notice
        for run_id in ids:
            assert _wait_ended(services, run_id) is RunState.FINISHED
    finally:
        loops.stop()

    # AND no loop or waiter thread outlives its job or the loops
    assert not {name for name in _launchq_threads() - before if name.startswith("launchq-exit")}
    assert _launchq_threads() <= before


def _wait_ended(services: Services, run_id: str) -> RunState:
    for _ in range(600):  # up to 30 s, well before the reconciler's next tick
        state = services.ctx.store.get_run(run_id).state
        if state in TERMINAL:
            return state
        time.sleep(0.05)
    return services.ctx.store.get_run(run_id).state


def test_an_exit_seen_before_the_start_is_recorded_is_rechecked_then_left_to_the_reconciler() -> None:
    # GIVEN a job that ended while its run was still ``claimed``
    early = EarlyExits()
    assert early.timeout() is None  # nothing to re-check: the exit thread just blocks
    early.defer("r1")
    first = early.timeout()
    assert first is not None
    assert first <= EARLY_FIRST_SECONDS
    assert early.due() == []  # not before its time

    # WHEN it is still not recorded after each re-check (5 ms, 10 ms, ... 2.56 s)
    for _ in range(9):
        early.defer("r1")
    assert early.timeout() is not None
    early.defer("r1")  # the next wait would be past the 5 s bound

    # THEN it is dropped: the reconciler's tick settles it
    assert early.timeout() is None

    # AND a run that settled is dropped at once
    early.defer("r2")
    early.drop("r2")
    assert early.timeout() is None
