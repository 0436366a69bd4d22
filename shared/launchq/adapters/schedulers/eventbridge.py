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
anything else BackendUnavailable. boto3 is imported on first use.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from launchq.adapters.schedulers.cron import to_eventbridge
from launchq.domain.models import Schedule
from launchq.errors import BackendUnavailable, InvalidInput, LaunchqError
from launchq.ports import ScheduleTrigger

if TYPE_CHECKING:
    from botocore.exceptions import ClientError
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
            import boto3

            self._client = boto3.client("scheduler")
        return self._client

    def upsert(self, schedule: Schedule) -> None:
        """Create the Scheduler schedule, or update it when one of that name exists.

        Raises InvalidInput (field ``cron``) for a cron EventBridge cannot express,
        BackendUnavailable.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        request = self.request(schedule)
        try:
            try:
                self.client.create_schedule(**request)
            except ClientError as exc:
                if _code(exc) != "ConflictException":
                    raise
                self.client.update_schedule(**request)
        except ClientError as exc:
            raise _translated(exc, schedule.name) from exc
        except BotoCoreError as exc:
            raise BackendUnavailable(f"EventBridge Scheduler: {exc}", field="schedule") from exc

    def delete(self, name: str) -> None:
        """Delete the Scheduler schedule; one that is missing is fine. Raises BackendUnavailable."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_schedule(Name=name, GroupName=self.group_name)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise _translated(exc, name) from exc
        except BotoCoreError as exc:
            raise BackendUnavailable(f"EventBridge Scheduler: {exc}", field="schedule") from exc

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


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _translated(exc: ClientError, name: str) -> LaunchqError:
    error = exc.response.get("Error", {})
    detail = (
        f"EventBridge Scheduler refused schedule {name!r}: "
        f"{error.get('Code', 'error')}: {error.get('Message', '')}"
    )
    if _code(exc) == "ValidationException":
        return InvalidInput(detail, field="cron")
    return BackendUnavailable(detail, field="schedule")
