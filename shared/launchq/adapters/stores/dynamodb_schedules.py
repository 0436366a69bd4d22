"""The schedules part of the DynamoDB store: one item per schedule under ``SCHEDULES``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from launchq.adapters.stores import common
from launchq.adapters.stores import dynamodb_items as items
from launchq.adapters.stores.dynamodb_items import ABSENT, EXISTS, n, s
from launchq.adapters.stores.dynamodb_table import ConditionFailed
from launchq.errors import AlreadyExists, NotFound

if TYPE_CHECKING:
    from datetime import datetime

    from launchq.adapters.stores.dynamodb_table import DynamoTable
    from launchq.domain.models import Schedule


class DynamoSchedules:
    """The ``RunStore`` schedule methods, on the store's table (``_db``)."""

    _db: DynamoTable

    # -- schedules ----------------------------------------------------------------------
    def create_schedule(self, schedule: Schedule) -> None:
        try:
            self._db.put(items.schedule_item(schedule), ABSENT)
        except ConditionFailed as exc:
            raise AlreadyExists(f"schedule {schedule.name!r} already exists", field="name") from exc

    def get_schedule(self, name: str) -> Schedule:
        item = self._db.get(items.schedule_key(name))
        if item is None:
            raise NotFound(f"schedule {name!r} does not exist", field="schedule")
        return items.schedule_from(item)

    def list_schedules(self) -> list[Schedule]:
        found = self._db.query("PK = :pk", {":pk": s(items.SCHEDULES_PK)})
        return [items.schedule_from(item) for item in found]

    def delete_schedule(self, name: str) -> None:
        try:
            self._db.delete(items.schedule_key(name), EXISTS)
        except ConditionFailed as exc:
            raise NotFound(f"schedule {name!r} does not exist", field="schedule") from exc

    def advance_schedule(
        self, name: str, expected_next: datetime, next_fire_at: datetime, last_run_id: str
    ) -> None:
        advanced = common.advanced_schedule(self.get_schedule(name), expected_next, next_fire_at, last_run_id)
        try:
            self._db.update(
                items.schedule_key(name),
                "SET body = :body, next_fire_at = :next",
                {
                    ":body": s(advanced.model_dump_json()),
                    ":next": n(items.instant(next_fire_at)),
                    ":expected": n(items.instant(expected_next)),
                },
                condition=f"{EXISTS} AND next_fire_at = :expected",
            )
        except ConditionFailed as exc:
            if exc.item is None:
                raise NotFound(f"schedule {name!r} does not exist", field="schedule") from exc
            raise common.not_due(name, items.schedule_from(exc.item).next_fire_at, expected_next) from exc
