"""The dispatcher, reconciler and schedules against the in-memory store and a driven fake target."""

from __future__ import annotations

import os
import socket

import pytest

from launchq.domain.models import RunSpec, ScheduleSpec
from launchq.domain.states import RunState
from launchq.errors import InvalidInput
from launchq.ports import TargetStatus
from launchq.service.queues import QueueCreate
from tests.unit.fakes import Clock, FakeTarget, services

SPEC = RunSpec(entry_point=["train"])


@pytest.fixture
def world() -> tuple[FakeTarget, Clock]:
    return FakeTarget(), Clock()


def test_a_run_goes_from_queued_to_finished_and_frees_its_slot(world: tuple[FakeTarget, Clock]) -> None:
    target, clock = world
    svc = services(target, clock)
    svc.queues.create(QueueCreate(name="q", resource="local-process", max_jobs=1))
    first, _ = svc.runs.enqueue("q", SPEC)
    second, _ = svc.runs.enqueue("q", SPEC)

    launched = svc.dispatcher.dispatch("q")
    assert [r.id for r in launched] == [first.id]
    assert launched[0].state == RunState.STARTING
    assert svc.runs.get(second.id).state == RunState.QUEUED

    target.jobs[first.id] = TargetStatus(state="running")
    svc.reconciler.tick()
    assert svc.runs.get(first.id).state == RunState.RUNNING

    target.jobs[first.id] = TargetStatus(state="failed", exit_code=7)
    svc.reconciler.tick()
    done = svc.runs.get(first.id)
    assert (done.state, done.exit_code, done.reason) == (RunState.FAILED, 7, "exited with code 7")
    assert "q" in svc.ctx.doorbell.wait(0)  # type: ignore[attr-defined]
    assert [r.id for r in svc.dispatcher.dispatch("q")] == [second.id]
    states = [e.to_state for e in svc.runs.events(first.id)]
    assert states == ["queued", "claimed", "starting", "running", "failed"]


def test_the_claim_event_names_the_dispatcher_host_and_pid(world: tuple[FakeTarget, Clock]) -> None:
    # GIVEN a queued run
    target, clock = world
    svc = services(target, clock)
    svc.queues.create(QueueCreate(name="q", resource="local-process", max_jobs=1))
    run, _ = svc.runs.enqueue("q", SPEC)
    # WHEN this process's dispatcher launches it
    svc.dispatcher.dispatch("q")
    # THEN the claim event says which dispatcher took it
    reasons = [e.reason for e in svc.runs.events(run.id)]
    assert reasons[1] == f"claimed by dispatcher on {socket.gethostname()} pid {os.getpid()}"


def test_a_claim_whose_lease_expires_goes_back_to_its_place_in_line(world: tuple[FakeTarget, Clock]) -> None:
    target, clock = world
    svc = services(target, clock)
    svc.queues.create(QueueCreate(name="q", resource="local-process", max_jobs=-1))
    low, _ = svc.runs.enqueue("q", RunSpec(entry_point=["a"], priority="low"))
    now = clock()
    claimed = svc.ctx.store.claim("q", now, now)  # a dispatcher that died right after claiming
    assert claimed is not None
    assert claimed.id == low.id
    later, _ = svc.runs.enqueue("q", RunSpec(entry_point=["b"], priority="low"))

    clock.advance(1)
    svc.reconciler.tick()

    back = svc.runs.get(low.id)
    assert back.state == RunState.QUEUED
    assert svc.runs.position(back) == 1
    assert svc.runs.position(svc.runs.get(later.id)) == 2


def test_a_run_stuck_starting_is_dead_lettered_and_its_job_stopped(world: tuple[FakeTarget, Clock]) -> None:
    target, clock = world
    svc = services(target, clock)
    svc.queues.create(QueueCreate(name="q", resource="local-process"))
    run, _ = svc.runs.enqueue("q", SPEC)
    svc.dispatcher.dispatch("q")

    clock.advance(60)
    svc.reconciler.tick()
    assert svc.runs.get(run.id).state == RunState.STARTING

    clock.advance(61)
    svc.reconciler.tick()
    stuck = svc.runs.get(run.id)
    assert stuck.state == RunState.DEAD_LETTER
    assert "did not start within 120s" in stuck.reason
    assert target.stops == [run.id]


def test_a_submit_refusal_dead_letters_with_the_reason(world: tuple[FakeTarget, Clock]) -> None:
    target, clock = world
    svc = services(target, clock)
    svc.queues.create(QueueCreate(name="q", resource="local-process"))
    run, _ = svc.runs.enqueue("q", SPEC)
    target.fail_submit = "cannot start 'train': not found"
    svc.dispatcher.dispatch("q")
    dead = svc.runs.get(run.id)
    assert dead.state == RunState.DEAD_LETTER
    assert dead.reason == "cannot start 'train': not found"


def test_stop_of_a_running_run_reaches_stopped_through_stopping(world: tuple[FakeTarget, Clock]) -> None:
    target, clock = world
    svc = services(target, clock)
    svc.queues.create(QueueCreate(name="q", resource="local-process"))
    run, _ = svc.runs.enqueue("q", SPEC)
    svc.dispatcher.dispatch("q")
    target.jobs[run.id] = TargetStatus(state="running")
    svc.reconciler.tick()

    assert svc.runs.stop(run.id).state == RunState.STOPPING
    assert target.stops == [run.id]
    svc.reconciler.tick()  # still running: the stop is repeated, not forgotten
    assert target.stops == [run.id, run.id]
    target.jobs[run.id] = TargetStatus(state="stopped", exit_code=-15)
    svc.reconciler.tick()
    stopped = svc.runs.get(run.id)
    assert (stopped.state, stopped.exit_code) == (RunState.STOPPED, -15)


def test_macros_are_substituted_at_launch(world: tuple[FakeTarget, Clock]) -> None:
    target, clock = world
    svc = services(target, clock)
    config = {"env": {"WHO": "${run_name}@${queue_name}/${project_name}", "ID": "${run_id}"}}
    svc.queues.create(QueueCreate(name="q", resource="local-process", config=config))
    run, _ = svc.runs.enqueue("q", RunSpec(entry_point=["x"], name="exp1", project="p"))
    assert run.resolved["env"]["WHO"] == "${run_name}@${queue_name}/${project_name}"
    launched = svc.dispatcher.dispatch("q")[0]
    assert launched.resolved["env"] == {"WHO": "exp1@q/p", "ID": run.id}


def test_schedules_fire_once_per_tick_and_survive_a_repeat(world: tuple[FakeTarget, Clock]) -> None:
    target, clock = world
    svc = services(target, clock)
    svc.queues.create(QueueCreate(name="q", resource="local-process", max_jobs=-1))
    schedule = svc.schedules.create(ScheduleSpec(name="hourly", queue="q", cron="0 * * * *", run=SPEC))
    assert schedule.next_fire_at.hour == 13

    assert svc.schedules.fire_due() == []
    clock.advance(3600)
    fired = svc.schedules.fire_due()
    assert len(fired) == 1
    assert svc.schedules.fire_due() == []
    # A reconciler that died after enqueueing but before advancing fires the same tick again:
    key = "schedule:hourly:" + schedule.next_fire_at.isoformat()
    again, created = svc.runs.enqueue("q", SPEC, idempotency_key=key)
    assert (again.id, created) == (fired[0], False)
    assert svc.ctx.store.get_schedule("hourly").next_fire_at.hour == 14


@pytest.mark.parametrize("cron", ["every hour", "61 * * * *", "* * * *"])
def test_a_bad_cron_is_refused(world: tuple[FakeTarget, Clock], cron: str) -> None:
    target, clock = world
    svc = services(target, clock)
    svc.queues.create(QueueCreate(name="q", resource="local-process"))
    with pytest.raises(InvalidInput) as info:
        svc.schedules.create(ScheduleSpec(name="s", queue="q", cron=cron, run=SPEC))
    assert info.value.field == "cron"
    assert svc.schedules.all() == []


def test_two_resumes_of_one_build_submit_one_job_and_stop_none(world: tuple[FakeTarget, Clock]) -> None:
    # GIVEN a run that was submitted by one dispatcher while a second one raced it
    target, clock = world
    svc = services(target, clock)
    svc.queues.create(QueueCreate(name="q", resource="local-process"))
    svc.runs.enqueue("q", SPEC)
    claimed = svc.ctx.store.claim("q", clock(), clock())
    assert claimed is not None
    first = svc.dispatcher.launch(claimed)
    # WHEN the second dispatcher, holding the stale claimed copy, submits the same job
    again = svc.dispatcher.launch(claimed)
    # THEN the recorded job is kept and nothing is stopped
    assert first.state == again.state == RunState.STARTING
    assert target.stops == []
