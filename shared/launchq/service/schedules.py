"""Cron schedules: a run spec enqueued onto a queue at every tick of a cron expression (UTC).

Firing is crash-safe: the run is enqueued with the idempotency key
``schedule:<name>:<tick>`` before the schedule is advanced (a conditional write), so a
reconciler that dies in between fires the same tick again into the same run. Ticks missed
while nothing was running are not replayed: a schedule fires once and moves to the next
tick after now (as a Kubernetes CronJob with a short starting deadline would).
"""

from __future__ import annotations

import logging
from datetime import datetime

from croniter import CroniterBadCronError, croniter

from launchq.domain.models import Schedule, ScheduleSpec
from launchq.errors import InvalidInput, LaunchqError, StaleWrite
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


class ScheduleService:
    def __init__(self, ctx: Context, runs: RunService) -> None:
        self.ctx = ctx
        self.runs = runs

    def create(self, spec: ScheduleSpec) -> Schedule:
        now = self.ctx.clock()
        first = next_tick(spec.cron, now)
        self.runs.prepare(spec.queue, spec.run)  # refuse now what would fail at every tick
        schedule = Schedule(**spec.model_dump(), next_fire_at=first, created_at=now)
        self.ctx.store.create_schedule(schedule)
        return schedule

    def all(self) -> list[Schedule]:
        return self.ctx.store.list_schedules()

    def delete(self, name: str) -> None:
        self.ctx.store.delete_schedule(name)

    def fire_due(self) -> list[str]:
        """Enqueue every due schedule once; return the ids of the runs enqueued."""
        now = self.ctx.clock()
        fired: list[str] = []
        for schedule in self.ctx.store.list_schedules():
            if schedule.next_fire_at > now:
                continue
            key = f"schedule:{schedule.name}:{schedule.next_fire_at.isoformat()}"
            run_id = ""
            try:
                run, _ = self.runs.enqueue(schedule.queue, schedule.run, idempotency_key=key)
                run_id = run.id
                fired.append(run.id)
            except LaunchqError as exc:  # e.g. the queue was deleted: record and move on
                log.warning("schedule %s could not enqueue: %s", schedule.name, exc)
            try:
                self.ctx.store.advance_schedule(
                    schedule.name, schedule.next_fire_at, next_tick(schedule.cron, now), run_id
                )
            except StaleWrite:
                log.info("schedule %s was advanced by another reconciler", schedule.name)
        return fired
