"""The trigger of local mode: nothing outside launchq fires schedules, the reconciler does."""

from __future__ import annotations

from launchq.domain.models import Schedule
from launchq.ports import ScheduleTrigger


class ReconcilerOnlyTrigger(ScheduleTrigger):
    """Keeps no trigger anywhere: ``ScheduleService.fire_due`` fires every due tick."""

    def upsert(self, schedule: Schedule) -> None:
        return None

    def delete(self, name: str) -> None:
        return None
