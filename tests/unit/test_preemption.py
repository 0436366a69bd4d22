"""Preempted runs go back to their place in line, a bounded number of times; an
unschedulable job past the start timeout fails with the scheduler's words.

The reconciler against the in-memory store and the package's fake target, driven by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from launchq.aws.settings import AwsSettings
from launchq.bootstrap import Services
from launchq.domain.models import Run, RunSpec
from launchq.domain.states import RunState
from launchq.errors import InvalidInput
from launchq.local.settings import LocalSettings, load_local_settings
from launchq.ports import TargetStatus
from launchq.service.context import ServiceSettings
from launchq.service.queues import QueueCreate
from tests.unit.fakes import Clock, FakeTarget, services

EVICTED = "preempted: EvictionByEvictionAPI: node drained"


@pytest.fixture
def world() -> tuple[FakeTarget, Clock, Services]:
    target, clock = FakeTarget(), Clock()
    svc = services(target, clock)
    svc.ctx.settings = ServiceSettings(lease_seconds=60, start_timeout_seconds=120, max_preemptions=3)
    svc.queues.create(QueueCreate(name="q", resource="local-process", max_jobs=1))
    return target, clock, svc


def a_running_run(svc: Services, target: FakeTarget) -> Run:
    """A new run of queue ``q`` (which must be idle), dispatched and reported running."""
    run, _ = svc.runs.enqueue("q", RunSpec(entry_point=["a"]))
    return running(svc, target, run)


def running(svc: Services, target: FakeTarget, run: Run) -> Run:
    """Dispatch ``run`` (it must be first in line) and let the target report it running."""
    (launched,) = svc.dispatcher.dispatch("q", limit=1)
    assert launched.id == run.id
    target.advance(launched)
    svc.reconciler.tick()
    current = svc.runs.get(run.id)
    assert current.state == RunState.RUNNING
    return current


def test_a_preempted_run_is_requeued_ahead_of_a_later_run_of_its_priority(
    world: tuple[FakeTarget, Clock, Services],
) -> None:
    target, _clock, svc = world
    first, _ = svc.runs.enqueue("q", RunSpec(entry_point=["a"]))
    first = running(svc, target, first)
    later, _ = svc.runs.enqueue("q", RunSpec(entry_point=["b"]))  # same priority, enqueued after
    svc.ctx.doorbell.wait(0)  # type: ignore[attr-defined]  # drain the rings so far

    # WHEN the target takes the job away
    target.preempt(first, EVICTED)
    svc.reconciler.tick()

    # THEN the run waits again, first in line, with its seq and priority, its slot free
    requeued = svc.runs.get(first.id)
    assert requeued.state == RunState.QUEUED
    assert (requeued.seq, requeued.priority, requeued.preemptions) == (first.seq, first.priority, 1)
    assert svc.ctx.store.position(requeued) == 1
    assert svc.ctx.store.position(svc.runs.get(later.id)) == 2
    assert svc.ctx.store.count_active("q") == 0
    assert "q" in svc.ctx.doorbell.wait(0)  # type: ignore[attr-defined]
    # AND its events say what happened, with the target's detail
    events = svc.runs.events(first.id)
    assert [e.to_state for e in events][-3:] == ["running", "preempted", "queued"]
    assert events[-2].reason == f"preempted (1 of 3): {EVICTED}"
    assert events[-1].reason == "back in line at its place after preemption"
    # AND the taken job was stopped (what was left of it must not run beside the next attempt)
    assert target.stops == [first.id]

    # WHEN the dispatcher runs again  THEN the preempted run goes first, as attempt 1, and finishes
    (again,) = svc.dispatcher.dispatch("q")
    assert again.id == first.id
    assert target.attempts == [(first.id, 0), (first.id, 1)]
    target.advance(again)
    target.advance(again)
    svc.reconciler.tick()
    assert svc.runs.get(first.id).state == RunState.FINISHED
    assert svc.runs.get(later.id).state == RunState.QUEUED


def test_the_last_allowed_preemption_fails_the_run_saying_how_often(
    world: tuple[FakeTarget, Clock, Services],
) -> None:
    target, _clock, svc = world
    run, _ = svc.runs.enqueue("q", RunSpec(entry_point=["a"]))
    for attempt in range(3):
        current = running(svc, target, run)
        assert current.preemptions == attempt
        target.preempt(current, f"preempted: round {attempt + 1}")
        svc.reconciler.tick()

    failed = svc.runs.get(run.id)
    assert failed.state == RunState.FAILED
    assert failed.reason == "preempted 3 times (the limit): preempted: round 3"
    assert failed.finished_at is not None
    states = [e.to_state for e in svc.runs.events(run.id)]
    assert states.count("preempted") == 2
    assert states[-1] == "failed"
    assert svc.ctx.store.count_active("q") == 0


def test_max_preemptions_one_never_requeues(world: tuple[FakeTarget, Clock, Services]) -> None:
    target, _clock, svc = world
    svc.ctx.settings = ServiceSettings(max_preemptions=1)
    run = a_running_run(svc, target)
    target.preempt(run)
    svc.reconciler.tick()
    assert svc.runs.get(run.id).reason == "preempted 1 times (the limit): preempted: node reclaimed"


def test_a_run_left_preempted_is_put_back_in_line_by_the_next_tick(
    world: tuple[FakeTarget, Clock, Services],
) -> None:
    # GIVEN a run whose requeue was lost after its preemption was stored
    target, clock, svc = world
    run = a_running_run(svc, target)
    svc.ctx.store.transition(run.id, RunState.RUNNING, RunState.PREEMPTED, "preempted", clock())
    target.preempt(run)
    # WHEN the reconciler ticks  THEN it waits in line again
    svc.reconciler.tick()
    assert svc.runs.get(run.id).state == RunState.QUEUED


def test_a_stop_asked_before_the_preemption_is_seen_ends_stopped(
    world: tuple[FakeTarget, Clock, Services],
) -> None:
    target, _clock, svc = world
    run = a_running_run(svc, target)
    svc.runs.stop(run.id)
    target.preempt(run)
    svc.reconciler.tick()
    assert svc.runs.get(run.id).state == RunState.STOPPED


@pytest.mark.parametrize(
    ("status", "ends"),
    [
        (
            TargetStatus(
                state="starting",
                detail="Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
                unschedulable=True,
            ),
            RunState.FAILED,  # the scheduler cannot place it: a replay would meet the same cluster
        ),
        (TargetStatus(state="starting", detail="ImagePullBackOff: no such image"), RunState.DEAD_LETTER),
    ],
)
def test_a_job_not_started_by_the_timeout_is_stopped_and_fails_only_when_unschedulable(
    world: tuple[FakeTarget, Clock, Services], status: TargetStatus, ends: RunState
) -> None:
    target, clock, svc = world
    run, _ = svc.runs.enqueue("q", RunSpec(entry_point=["a"]))
    svc.dispatcher.dispatch("q")
    target.jobs[run.id] = status
    clock.advance(60)
    svc.reconciler.tick()
    assert svc.runs.get(run.id).state == RunState.STARTING  # within the timeout: still waiting
    clock.advance(61)
    svc.reconciler.tick()
    ended = svc.runs.get(run.id)
    assert (ended.state, ended.reason) == (ends, f"did not start within 120s: {status.detail}")
    assert target.stops == [run.id]


def test_a_preemption_pushed_as_a_job_event_requeues_at_once(
    world: tuple[FakeTarget, Clock, Services],
) -> None:
    target, _clock, svc = world
    run = a_running_run(svc, target)
    target.preempt(run)
    moved = svc.state_changes.on_job_state_change(run.id)
    assert (moved.state, moved.preemptions) == (RunState.QUEUED, 1)


@pytest.mark.parametrize("settings", [LocalSettings, AwsSettings])
def test_max_preemptions_is_read_from_its_variable_in_both_modes(
    monkeypatch: pytest.MonkeyPatch, settings: type[LocalSettings | AwsSettings]
) -> None:
    monkeypatch.delenv("LAUNCHQ_MAX_PREEMPTIONS", raising=False)
    monkeypatch.setenv("LAUNCHQ_TABLE_NAME", "launchq-test")  # the AWS stack's required ones
    monkeypatch.setenv("LAUNCHQ_DOORBELL_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/doorbell")
    assert settings().service.max_preemptions == 3
    monkeypatch.setenv("LAUNCHQ_MAX_PREEMPTIONS", "5")
    assert settings().service.max_preemptions == 5


def test_a_bad_max_preemptions_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LAUNCHQ_MAX_PREEMPTIONS", "0")
    with pytest.raises(InvalidInput) as refused:
        load_local_settings(data_dir=tmp_path)
    assert refused.value.field == "LAUNCHQ_MAX_PREEMPTIONS"
