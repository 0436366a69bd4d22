"""Schedules fired by a trigger (EventBridge Scheduler on AWS) and by the reconciler's fallback.

A recording fake stands in for the trigger; the store is the in-memory one, the clock the
test's. Both firing paths must give one run per tick, in either order and however often.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from launchq.adapters.schedulers.fake import FakeScheduleTrigger
from launchq.bootstrap import Services
from launchq.domain.models import RunSpec, Schedule, ScheduleSpec
from launchq.errors import BackendUnavailable, InvalidInput, LaunchqError
from launchq.service.queues import QueueCreate
from launchq.service.schedules import fire_key
from tests.unit.fakes import Clock, FakeTarget, services

SPEC = RunSpec(entry_point=["train"])
TICK = datetime(2026, 1, 1, 13, 0, tzinfo=UTC)  # the first tick of "0 * * * *" after the clock's 12:00


# The package's fake remembers what it was asked; ``refuse`` makes ``upsert``/``delete`` raise it.
RecordingTrigger = FakeScheduleTrigger


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def trigger() -> RecordingTrigger:
    return RecordingTrigger()


@pytest.fixture
def svc(clock: Clock, trigger: RecordingTrigger) -> Services:
    built = services(FakeTarget(), clock)
    built.ctx.trigger = trigger
    built.queues.create(QueueCreate(name="q", resource="local-process", max_jobs=-1))
    return built


def hourly(svc: Services) -> Schedule:
    return svc.schedules.create(ScheduleSpec(name="hourly", queue="q", cron="0 * * * *", run=SPEC))


def test_creating_a_schedule_stores_it_and_sets_up_its_trigger(
    svc: Services, trigger: RecordingTrigger
) -> None:
    # WHEN a schedule is created
    schedule = hourly(svc)
    # THEN it is stored, and the trigger was given exactly the stored schedule
    assert svc.schedules.all() == [schedule]
    assert trigger.upserted == [schedule]
    assert schedule.next_fire_at == TICK


@pytest.mark.parametrize(
    "refusal",
    [
        InvalidInput("EventBridge Scheduler cannot run this cron", field="cron"),
        BackendUnavailable("EventBridge Scheduler is down", field="schedule"),
    ],
)
def test_a_trigger_that_refuses_leaves_no_schedule_stored(
    svc: Services, trigger: RecordingTrigger, refusal: LaunchqError
) -> None:
    # GIVEN a trigger that refuses the schedule
    trigger.refuse = refusal
    # WHEN the schedule is created
    with pytest.raises(type(refusal)) as raised:
        hourly(svc)
    # THEN the trigger's error reaches the caller, and nothing is left stored
    assert raised.value is refusal
    assert svc.schedules.all() == []
    # AND once the trigger accepts, the same name can be created
    trigger.refuse = None
    assert hourly(svc).name == "hourly"


def test_deleting_removes_the_trigger_then_the_schedule(svc: Services, trigger: RecordingTrigger) -> None:
    hourly(svc)
    svc.schedules.delete("hourly")
    assert trigger.deleted == ["hourly"]
    assert svc.schedules.all() == []


def test_a_trigger_that_cannot_delete_leaves_the_schedule_listed(
    svc: Services, trigger: RecordingTrigger
) -> None:
    # GIVEN a schedule whose trigger cannot be reached any more
    schedule = hourly(svc)
    trigger.refuse = BackendUnavailable("down", field="schedule")
    # WHEN it is deleted
    with pytest.raises(BackendUnavailable):
        svc.schedules.delete("hourly")
    # THEN it is still listed (and can be deleted again later), not left firing unlisted
    assert svc.schedules.all() == [schedule]


def test_the_trigger_firing_a_tick_enqueues_one_run_and_moves_the_schedule_on(
    svc: Services, clock: Clock
) -> None:
    hourly(svc)
    clock.now = TICK + timedelta(seconds=2)
    # WHEN the trigger fires the tick, and its retry fires it again
    first = svc.schedules.fire("hourly", TICK)
    again = svc.schedules.fire("hourly", TICK)
    # THEN there is one run, and the schedule waits for the next tick
    assert first is not None
    assert again == first
    assert [r.id for r in svc.runs.find(queue="q")] == [first]
    stored = svc.ctx.store.get_schedule("hourly")
    assert (stored.next_fire_at, stored.last_run_id) == (TICK + timedelta(hours=1), first)
    # AND the reconciler's fallback finds nothing due
    assert svc.schedules.fire_due() == []


def test_the_reconciler_then_the_trigger_firing_one_tick_give_one_run(svc: Services, clock: Clock) -> None:
    hourly(svc)
    clock.now = TICK + timedelta(seconds=5)
    # WHEN the reconciler fires the tick first, and the trigger's invocation arrives after
    by_reconciler = svc.schedules.fire_due()
    by_trigger = svc.schedules.fire("hourly", TICK)
    # THEN both name the same run, the only one
    assert by_reconciler == [by_trigger]
    assert len(svc.runs.find(queue="q")) == 1
    assert svc.ctx.store.get_schedule("hourly").next_fire_at == TICK + timedelta(hours=1)


def test_a_tick_reported_with_seconds_or_in_another_zone_is_the_same_tick(
    svc: Services, clock: Clock
) -> None:
    # GIVEN a run the reconciler enqueued for 13:00 UTC
    hourly(svc)
    clock.now = TICK
    [run_id] = svc.schedules.fire_due()
    # WHEN the trigger reports the same tick with seconds, and as 14:00 at UTC+1
    with_seconds = svc.schedules.fire("hourly", TICK.replace(second=7, microsecond=123))
    elsewhere = svc.schedules.fire("hourly", datetime(2026, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=1))))
    # THEN both find the reconciler's run under one key
    assert with_seconds == elsewhere == run_id
    assert fire_key("hourly", TICK.replace(second=7)) == "schedule:hourly:2026-01-01T13:00:00+00:00"
    assert len(svc.runs.find(queue="q")) == 1


def test_a_tick_later_than_the_stored_one_moves_it_past_both(svc: Services, clock: Clock) -> None:
    # GIVEN the 13:00 firing was lost and nothing fired it; the trigger fires 14:00
    hourly(svc)
    later = TICK + timedelta(hours=1)
    clock.now = later
    run_id = svc.schedules.fire("hourly", later)
    # THEN 14:00 ran, and 13:00 is not replayed late by the reconciler
    assert run_id is not None
    assert svc.ctx.store.get_schedule("hourly").next_fire_at == later + timedelta(hours=1)
    assert svc.schedules.fire_due() == []
    assert len(svc.runs.find(queue="q")) == 1


@pytest.mark.parametrize(
    ("name", "tick"),
    [
        ("gone", TICK),  # a schedule deleted while its trigger still fired
        ("hourly", TICK + timedelta(minutes=30)),  # not a tick of "0 * * * *"
    ],
)
def test_a_firing_that_names_no_tick_of_a_schedule_runs_nothing(
    svc: Services, clock: Clock, name: str, tick: datetime
) -> None:
    hourly(svc)
    clock.now = tick
    assert svc.schedules.fire(name, tick) is None
    assert svc.runs.find(queue="q") == []
    assert svc.ctx.store.get_schedule("hourly").next_fire_at == TICK


def test_a_schedule_whose_queue_is_gone_runs_nothing_but_moves_on(svc: Services, clock: Clock) -> None:
    # GIVEN a schedule onto a queue that was deleted since
    hourly(svc)
    svc.queues.delete("q")
    clock.now = TICK
    # WHEN its tick fires
    run_id = svc.schedules.fire("hourly", TICK)
    # THEN no run, and it moves to the next tick rather than failing forever
    assert run_id is None
    assert svc.ctx.store.get_schedule("hourly").next_fire_at == TICK + timedelta(hours=1)
