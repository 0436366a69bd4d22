"""An in-memory schedule trigger: the ``ScheduleTrigger`` stub shipped in the package.

``ReconcilerOnlyTrigger`` keeps nothing (the reconciler fires every tick); this fake keeps
what EventBridge Scheduler would -- one armed trigger per schedule name -- and remembers
every call, so service tests can see what was armed, replaced and removed. It passes the
ScheduleTrigger contract suite (``tests/contract/test_schedule_trigger_contract.py``)
beside the reconciler-only and EventBridge triggers. ``refuse`` makes every call raise
that error (an unreachable backend, a cron refused).
"""

from __future__ import annotations

from launchq.domain.models import Schedule
from launchq.errors import LaunchqError
from launchq.ports import ScheduleTrigger

__all__ = ["FakeScheduleTrigger"]


class FakeScheduleTrigger(ScheduleTrigger):
    """``armed`` holds the live triggers by name; ``upserted``/``deleted`` every call that succeeded."""

    def __init__(self) -> None:
        self.armed: dict[str, Schedule] = {}
        self.upserted: list[Schedule] = []
        self.deleted: list[str] = []
        self.refuse: LaunchqError | None = None

    def upsert(self, schedule: Schedule) -> None:
        """Arm ``schedule``, replacing the trigger of that name. Raises ``refuse`` when set."""
        if self.refuse is not None:
            raise self.refuse
        self.armed[schedule.name] = schedule
        self.upserted.append(schedule)

    def delete(self, name: str) -> None:
        """Disarm ``name`` (a missing one is fine). Raises ``refuse`` when set."""
        if self.refuse is not None:
            raise self.refuse
        self.armed.pop(name, None)
        self.deleted.append(name)
