"""EventBridge Scheduler as a ``ScheduleTrigger``: one Scheduler schedule per launchq schedule.

Each launchq schedule becomes the schedule of the same name in one schedule group: its
cron converted to EventBridge's (``launchq.adapters.schedulers.cron``), in UTC, with no
flexible window, invoking the events Lambda with ``schedule_input`` -- a small JSON
object whose ``tick`` is the context attribute ``<aws.scheduler.scheduled-time>``, which
Scheduler replaces with the time of the tick (e.g. ``2022-03-22T18:59:43Z``). The Lambda
reads it with ``ScheduleFired`` and calls ``ScheduleService.fire``, which enqueues under
the reconciler's idempotency key: Scheduler's retries and the reconciler's fallback
firing of the same tick make no second run.

SDK errors are translated here: ``ValidationException`` is InvalidInput (field ``cron``),
anything else BackendUnavailable (``launchq.adapters.aws_sdk``, which also imports the SDK
on first use).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractContextManager
from functools import partial
from typing import TYPE_CHECKING, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from launchq.adapters import aws_sdk
from launchq.adapters.aws_sdk import Translation, aws_call, codes
from launchq.adapters.schedulers.cron import to_eventbridge
from launchq.domain.models import Schedule
from launchq.errors import AlreadyExists, InvalidInput, NotFound
from launchq.ports import ScheduleTrigger

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_scheduler.type_defs import CreateScheduleInputTypeDef

SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
# Firing is idempotent, so retrying is safe; the reconciler catches what retries miss.
MAX_RETRY_ATTEMPTS = 3
MAX_EVENT_AGE_SECONDS = 900


class ScheduleFired(BaseModel):
    """The event a Scheduler schedule sends the events Lambda. Extra keys are ignored."""

    model_config = ConfigDict(extra="ignore")

    launchq: Literal["schedule"]
    name: str = Field(min_length=1)
    tick: AwareDatetime


def schedule_input(name: str) -> str:
    """The target ``Input`` of schedule ``name``: a ``ScheduleFired`` once Scheduler fills the tick."""
    return json.dumps({"launchq": "schedule", "name": name, "tick": SCHEDULED_TIME})


class EventBridgeSchedulerTrigger(ScheduleTrigger):
    """Keeps one EventBridge Scheduler schedule per launchq schedule in ``group_name``."""

    def __init__(
        self,
        group_name: str,
        target_arn: str,
        role_arn: str,
        client: EventBridgeSchedulerClient | None = None,
    ) -> None:
        self.group_name = group_name
        self.target_arn = target_arn
        self.role_arn = role_arn
        self._client = client

    @property
    def client(self) -> EventBridgeSchedulerClient:
        if self._client is None:
            self._client = aws_sdk.client("scheduler")
        return self._client

    def upsert(self, schedule: Schedule) -> None:
        """Create the Scheduler schedule, or update it when one of that name exists.

        Raises InvalidInput (field ``cron``) for a cron EventBridge cannot express,
        BackendUnavailable.
        """
        request = self.request(schedule)
        try:
            with _scheduler_call("CreateSchedule", schedule.name, codes(AlreadyExists, "ConflictException")):
                self.client.create_schedule(**request)
        except AlreadyExists:
            with _scheduler_call("UpdateSchedule", schedule.name):
                self.client.update_schedule(**request)

    def delete(self, name: str) -> None:
        """Delete the Scheduler schedule; one that is missing is fine. Raises BackendUnavailable."""
        try:
            with _scheduler_call("DeleteSchedule", name, codes(NotFound, "ResourceNotFoundException")):
                self.client.delete_schedule(Name=name, GroupName=self.group_name)
        except NotFound:
            pass

    def request(self, schedule: Schedule) -> CreateScheduleInputTypeDef:
        """The CreateSchedule (and UpdateSchedule) request for ``schedule``. Raises InvalidInput."""
        return {
            "Name": schedule.name,
            "GroupName": self.group_name,
            "Description": f"launchq schedule {schedule.name}: {schedule.cron} (UTC) onto {schedule.queue}",
            "ScheduleExpression": to_eventbridge(schedule.cron),
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Target": {
                "Arn": self.target_arn,
                "RoleArn": self.role_arn,
                "Input": schedule_input(schedule.name),
                "RetryPolicy": {
                    "MaximumRetryAttempts": MAX_RETRY_ATTEMPTS,
                    "MaximumEventAgeInSeconds": MAX_EVENT_AGE_SECONDS,
                },
            },
        }


def _scheduler_call(
    operation: str, name: str, table: Mapping[str, Translation] | None = None
) -> AbstractContextManager[None]:
    """Scheduler's errors as launchq's: a refused expression is the cron's fault, the rest the backend's."""
    refused = codes(partial(InvalidInput, field="cron"), "ValidationException")
    return aws_call(
        f"EventBridge Scheduler {operation} of schedule {name!r}",
        refused | dict(table or {}),
        field="schedule",
    )
