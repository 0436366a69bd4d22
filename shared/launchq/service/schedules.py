"""Cron schedules: a run spec enqueued onto a queue at every tick of a cron expression (UTC).

Two paths fire a tick, and both enqueue it under the idempotency key
``schedule:<name>:<tick>`` (``fire_key``), so together they make one run per tick:

- a ``ScheduleTrigger`` outside launchq (EventBridge Scheduler on AWS) calls ``fire`` at
  the tick, and its retries call it again;
- the reconciler's ``fire_due`` is the fallback (and all there is in local mode): it
  fires each schedule whose ``next_fire_at`` has passed.

Firing is crash-safe: the run is enqueued before the schedule is advanced (a conditional
write), so a firing that dies in between fires the same tick again into the same run.
Ticks missed while nothing was running are not replayed: a schedule fires once and moves
to the next tick after now (as a Kubernetes CronJob with a short starting deadline would).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from croniter import CroniterBadCronError, croniter

from launchq.domain.models import Schedule, ScheduleSpec
from launchq.errors import InvalidInput, LaunchqError, NotFound, StaleWrite
from launchq.service.context import Context
from launchq.service.runs import RunService

log = logging.getLogger(__name__)


def next_tick(cron: str, after: datetime) -> datetime:
    """The first tick of ``cron`` strictly after ``after``. Raises InvalidInput (field ``cron``)."""
    if len(cron.split()) != 5:
        raise InvalidInput(f"{cron!r} is not a five-field cron expression", field="cron")
    try:
        result: datetime = croniter(cron, after).get_next(datetime)
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        raise InvalidInput(f"{cron!r} is not a valid cron expression: {exc}", field="cron") from None
    return result


def as_tick(moment: datetime) -> datetime:
    """``moment`` as a tick: in UTC (naive taken as UTC), on its minute.

    Cron ticks are whole minutes; the time a scheduler reports may carry seconds.
    """
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(second=0, microsecond=0)


def fire_key(name: str, tick: datetime) -> str:
    """The idempotency key of schedule ``name``'s run at ``tick``, whichever path fires it."""
    return f"schedule:{name}:{as_tick(tick).isoformat()}"


class ScheduleService:
    def __init__(self, ctx: Context, runs: RunService) -> None:
        self.ctx = ctx
        self.runs = runs

    def create(self, spec: ScheduleSpec) -> Schedule:
        """Store the schedule and set up its trigger; a trigger that refuses stores nothing.

        Raises InvalidInput, NotFound (queue), AlreadyExists, BackendUnavailable.
        """
        now = self.ctx.clock()
        first = next_tick(spec.cron, now)
        self.runs.prepare(spec.queue, spec.run)  # refuse now what would fail at every tick
        schedule = Schedule(**spec.model_dump(), next_fire_at=first, created_at=now)
        self.ctx.store.create_schedule(schedule)
        try:
            self.ctx.trigger.upsert(schedule)
        except Exception:
            self.ctx.store.delete_schedule(schedule.name)  # nothing half-stored
            raise
        return schedule

    def all(self) -> list[Schedule]:
        return self.ctx.store.list_schedules()

    def delete(self, name: str) -> None:
        """Remove the trigger first, so a failure leaves the schedule listed. Raises NotFound."""
        self.ctx.trigger.delete(name)
        self.ctx.store.delete_schedule(name)

    def fire(self, name: str, tick: datetime) -> str | None:
        """Enqueue schedule ``name``'s run for ``tick`` (once, however often it is called).

        Returns the run's id; None when there is nothing to run: the schedule is gone,
        ``tick`` is not one of its ticks, or the run cannot be enqueued any more (its
        queue was deleted). Moves ``next_fire_at`` past ``tick`` if it had not got there.
        Raises BackendUnavailable and Conflict (a firing of the same tick in progress),
        for the caller to retry.
        """
        tick = as_tick(tick)
        try:
            schedule = self.ctx.store.get_schedule(name)
        except NotFound:
            log.warning("schedule %s fired at %s no longer exists", name, tick.isoformat())
            return None
        if next_tick(schedule.cron, tick - timedelta(minutes=1)) != tick:
            log.warning("schedule %s fired at %s, not a tick of %r", name, tick.isoformat(), schedule.cron)
            return None
        run_id: str | None = None
        try:
            run, _ = self.runs.enqueue(schedule.queue, schedule.run, idempotency_key=fire_key(name, tick))
            run_id = run.id
        except (NotFound, InvalidInput) as exc:  # retrying cannot help: record it and move on
            log.warning("schedule %s could not enqueue: %s", name, exc)
        # A tick later than the stored one (whose firing was lost) also moves it on: the
        # stored tick is missed, not replayed late.
        if schedule.next_fire_at <= tick:
            self._advance(schedule, next_tick(schedule.cron, max(tick, self.ctx.clock())), run_id or "")
        return run_id

    def fire_due(self) -> list[str]:
        """Enqueue every due schedule once; return the ids of the runs enqueued."""
        now = self.ctx.clock()
        fired: list[str] = []
        for schedule in self.ctx.store.list_schedules():
            if schedule.next_fire_at > now:
                continue
            key = fire_key(schedule.name, schedule.next_fire_at)
            run_id = ""
            try:
                run, _ = self.runs.enqueue(schedule.queue, schedule.run, idempotency_key=key)
                run_id = run.id
                fired.append(run.id)
            except LaunchqError as exc:  # e.g. the queue was deleted: record and move on
                log.warning("schedule %s could not enqueue: %s", schedule.name, exc)
            self._advance(schedule, next_tick(schedule.cron, now), run_id)
        return fired

    def _advance(self, schedule: Schedule, next_fire_at: datetime, run_id: str) -> None:
        try:
            self.ctx.store.advance_schedule(schedule.name, schedule.next_fire_at, next_fire_at, run_id)
        except StaleWrite:
            log.info("schedule %s was advanced by another firing", schedule.name)
