"""Stopping a queue's runs (``RunService.stop_queue``) and the forced delete, on the in-memory
store with the fake target: the races between listing a run and stopping it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from launchq.bootstrap import Services
from launchq.domain.models import Run, RunSpec
from launchq.domain.states import RunState
from launchq.errors import Conflict, NotFound
from launchq.ports import TargetStatus
from launchq.service.queues import QueueCreate, QueuePatch
from tests.unit.fakes import Clock, FakeTarget, services

SPEC = RunSpec(entry_point=["train"])


@pytest.fixture
def svc() -> Services:
    built = services(FakeTarget(), Clock())
    built.queues.create(QueueCreate(name="q", resource="local-process", max_jobs=1))
    return built


def _after_listing(
    svc: Services, monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[list[Run]], None]
) -> None:
    """Run ``meanwhile`` once, right after the store's first listing: what another process
    (a dispatcher, a job that ends) did between ``stop_queue``'s listing and its stops."""
    store = svc.ctx.store
    listing = store.list_runs
    done: list[bool] = []

    def list_runs(
        queue: str | None = None, states: Iterable[RunState] | None = None, limit: int = 1000
    ) -> list[Run]:
        runs = listing(queue=queue, states=states, limit=limit)
        if not done:
            done.append(True)
            meanwhile(runs)
        return runs

    monkeypatch.setattr(store, "list_runs", list_runs)


def test_a_run_claimed_between_list_and_stop_is_stopped_in_its_new_state(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two queued runs, and a dispatcher that claims the first right after the listing
    first, _ = svc.runs.enqueue("q", SPEC)
    second, _ = svc.runs.enqueue("q", SPEC)
    now = svc.ctx.clock()

    def dispatcher_claims(_runs: list[Run]) -> None:
        assert svc.ctx.store.claim("q", now, now) is not None

    _after_listing(svc, monkeypatch, dispatcher_claims)
    # WHEN the queue's queued runs are stopped
    stopped = svc.runs.stop_queue("q", [RunState.QUEUED])
    # THEN the claimed one was re-read and stopped as a claimed run, the other cancelled
    assert sorted(stopped) == sorted([first.id, second.id])
    assert svc.runs.get(first.id).state == RunState.STOPPING
    assert svc.runs.get(second.id).state == RunState.CANCELLED
    # and each move is recorded with the queue stop's reason
    assert svc.runs.events(first.id)[-1].reason == "stopped with the rest of queue q"


def test_a_run_that_ended_between_list_and_stop_is_skipped(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a running run whose job ends right after the listing
    run, _ = svc.runs.enqueue("q", SPEC)
    svc.dispatcher.dispatch("q")
    target = svc.ctx.targets.get("local-process")
    assert isinstance(target, FakeTarget)

    def job_ends(_runs: list[Run]) -> None:
        target.jobs[run.id] = TargetStatus(state="finished", exit_code=0)
        svc.reconciler.tick()

    _after_listing(svc, monkeypatch, job_ends)
    # WHEN the queue is stopped
    stopped = svc.runs.stop_queue("q")
    # THEN nothing was stopped and the run kept the end it had
    assert stopped == []
    assert svc.runs.get(run.id).state == RunState.FINISHED


def test_stopping_runs_are_not_counted_again_and_preempted_ones_are_cancelled(svc: Services) -> None:
    # GIVEN a run already stopping and one preempted (on its way back into line)
    live, _ = svc.runs.enqueue("q", SPEC)
    svc.dispatcher.dispatch("q")
    svc.runs.stop(live.id)
    preempted, _ = svc.runs.enqueue("q", SPEC)
    now = svc.ctx.clock()
    store = svc.ctx.store
    svc.queues.patch("q", QueuePatch(max_jobs=-1))  # a slot for the second beside the stopping one
    claimed = store.claim("q", now, now)
    assert claimed is not None
    assert claimed.id == preempted.id
    starting = store.transition(preempted.id, RunState.CLAIMED, RunState.STARTING, "submitted", now)
    store.transition(starting.id, RunState.STARTING, RunState.PREEMPTED, "taken away", now)
    # WHEN the queue is stopped
    stopped = svc.runs.stop_queue("q")
    # THEN the preempted run went back in line and was cancelled there; the stopping one is not news
    assert stopped == [preempted.id]
    assert svc.runs.get(preempted.id).state == RunState.CANCELLED
    assert svc.runs.get(live.id).state == RunState.STOPPING


def test_stop_queue_reads_past_one_page(svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN more queued runs than one listing returns
    monkeypatch.setattr("launchq.service.runs.STOP_PAGE", 3)
    ids = {svc.runs.enqueue("q", SPEC)[0].id for _ in range(8)}
    # WHEN they are stopped
    stopped = svc.runs.stop_queue("q", [RunState.QUEUED])
    # THEN every one was, once
    assert sorted(stopped) == sorted(ids)
    assert {svc.runs.get(run_id).state for run_id in ids} == {RunState.CANCELLED}


def test_stop_queue_of_an_unknown_queue_is_not_found(svc: Services) -> None:
    with pytest.raises(NotFound):
        svc.runs.stop_queue("nope")


def test_a_forced_delete_waits_for_active_runs_then_deletes(svc: Services) -> None:
    # GIVEN a running run and a queued one
    running, _ = svc.runs.enqueue("q", SPEC)
    svc.dispatcher.dispatch("q")
    queued, _ = svc.runs.enqueue("q", SPEC)
    # WHEN the queue is deleted without force, THEN it is refused and nothing changed
    with pytest.raises(Conflict):
        svc.queues.delete("q")
    assert svc.runs.get(queued.id).state == RunState.QUEUED
    # WHEN it is deleted with force while the job is still stopping
    with pytest.raises(Conflict, match="1 run"):
        svc.queues.delete("q", stop_first=svc.runs)
    # THEN the queued run is cancelled at once, the running one is stopping, the queue is still there
    assert svc.runs.get(queued.id).state == RunState.CANCELLED
    assert svc.runs.get(running.id).state == RunState.STOPPING
    assert svc.queues.get("q").name == "q"
    # WHEN the job has stopped and the delete is asked again
    target = svc.ctx.targets.get("local-process")
    assert isinstance(target, FakeTarget)
    target.jobs[running.id] = TargetStatus(state="stopped", exit_code=-15)
    svc.reconciler.tick()
    svc.queues.delete("q", stop_first=svc.runs)
    # THEN the queue is gone and its runs stay readable
    with pytest.raises(NotFound):
        svc.queues.get("q")
    assert svc.runs.get(running.id).state == RunState.STOPPED
    assert "being deleted" in svc.runs.events(queued.id)[-1].reason
