"""The EventBridge Scheduler trigger against a real moto server over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from mypy_boto3_scheduler import EventBridgeSchedulerClient

from launchq.adapters.schedulers.eventbridge import (
    SCHEDULED_TIME,
    EventBridgeSchedulerTrigger,
    ScheduleFired,
)
from launchq.domain.models import RunSpec, Schedule
from launchq.errors import BackendUnavailable, InvalidInput

pytestmark = pytest.mark.integration

GROUP = "launchq-schedules"
TARGET = "arn:aws:lambda:us-east-1:123456789012:function:launchq-events"
ROLE = "arn:aws:iam::123456789012:role/launchq-scheduler"


@pytest.fixture
def scheduler(aws_env: dict[str, str]) -> EventBridgeSchedulerClient:
    client = boto3.client("scheduler")  # AWS_ENDPOINT_URL points it at moto
    client.create_schedule_group(Name=GROUP)
    return client


def schedule(cron: str, name: str = "nightly") -> Schedule:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    return Schedule(
        name=name,
        queue="gpu",
        cron=cron,
        run=RunSpec(entry_point=["train"]),
        next_fire_at=now,
        created_at=now,
    )


def stored(client: EventBridgeSchedulerClient, name: str = "nightly") -> dict[str, Any]:
    return dict(client.get_schedule(Name=name, GroupName=GROUP))


def test_upsert_creates_a_utc_schedule_that_invokes_the_events_function(
    scheduler: EventBridgeSchedulerClient,
) -> None:
    # GIVEN a trigger built without a client (as the AWS wiring builds it)
    trigger = EventBridgeSchedulerTrigger(GROUP, TARGET, ROLE)
    # WHEN a weekday schedule is upserted
    trigger.upsert(schedule("30 2 * * 1-5"))
    # THEN Scheduler holds it under the launchq name, converted, in UTC, on time
    created = stored(scheduler)
    assert created["ScheduleExpression"] == "cron(30 2 ? * 2-6 *)"
    assert created["ScheduleExpressionTimezone"] == "UTC"
    assert created["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert created["State"] == "ENABLED"
    # AND it invokes the events function as the scheduler role, with a modest retry policy
    target = created["Target"]
    assert (target["Arn"], target["RoleArn"]) == (TARGET, ROLE)
    assert 0 < target["RetryPolicy"]["MaximumRetryAttempts"] <= 5
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 3600
    # AND its input names the schedule, with the tick left for Scheduler to fill in
    assert json.loads(target["Input"]) == {"launchq": "schedule", "name": "nightly", "tick": SCHEDULED_TIME}
    filled = target["Input"].replace(SCHEDULED_TIME, "2026-01-02T02:30:00Z")
    assert ScheduleFired.model_validate_json(filled).tick == datetime(2026, 1, 2, 2, 30, tzinfo=UTC)


def test_upsert_of_an_existing_name_updates_it(scheduler: EventBridgeSchedulerClient) -> None:
    trigger = EventBridgeSchedulerTrigger(GROUP, TARGET, ROLE, scheduler)
    trigger.upsert(schedule("0 * * * *"))
    # WHEN the same name is upserted with another cron
    trigger.upsert(schedule("0 9 1 * *"))
    # THEN the one schedule now fires the new cron
    assert stored(scheduler)["ScheduleExpression"] == "cron(0 9 1 * ? *)"
    assert [s["Name"] for s in scheduler.list_schedules(GroupName=GROUP)["Schedules"]] == ["nightly"]


def test_delete_removes_the_schedule_and_a_missing_one_is_fine(scheduler: EventBridgeSchedulerClient) -> None:
    trigger = EventBridgeSchedulerTrigger(GROUP, TARGET, ROLE, scheduler)
    trigger.upsert(schedule("0 * * * *"))
    trigger.upsert(schedule("0 * * * *", name="other"))
    # WHEN one is deleted, twice
    trigger.delete("nightly")
    trigger.delete("nightly")
    # THEN only the other is left
    assert [s["Name"] for s in scheduler.list_schedules(GroupName=GROUP)["Schedules"]] == ["other"]


def test_a_cron_eventbridge_cannot_express_is_refused_and_nothing_is_stored(
    scheduler: EventBridgeSchedulerClient,
) -> None:
    trigger = EventBridgeSchedulerTrigger(GROUP, TARGET, ROLE, scheduler)
    # WHEN a cron restricting both day-of-month and day-of-week is upserted
    with pytest.raises(InvalidInput) as refused:
        trigger.upsert(schedule("0 9 1 * MON"))
    # THEN it is refused as the cron's fault, and Scheduler holds nothing
    assert refused.value.field == "cron"
    assert "both restricted" in refused.value.detail
    assert scheduler.list_schedules(GroupName=GROUP)["Schedules"] == []


def test_a_missing_group_is_backend_unavailable_not_a_botocore_error(aws_env: dict[str, str]) -> None:
    # GIVEN a group that does not exist (a stack misconfigured)
    trigger = EventBridgeSchedulerTrigger("no-such-group", TARGET, ROLE)
    # WHEN a schedule is deleted from it, THEN there is nothing to delete, which is fine
    trigger.delete("nightly")
    # WHEN a schedule is created in it
    with pytest.raises(BackendUnavailable) as raised:
        trigger.upsert(schedule("0 * * * *"))
    # THEN launchq's own error says which schedule
    assert "nightly" in raised.value.detail


def test_scheduler_validation_errors_are_invalid_input_and_throttling_is_unavailable() -> None:
    # GIVEN a client whose answers are pinned (no local server refuses a schedule by validation)
    client = boto3.client(
        "scheduler", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    trigger = EventBridgeSchedulerTrigger(GROUP, TARGET, ROLE, client)
    with Stubber(client) as stub:
        stub.add_client_error("create_schedule", "ValidationException", "Invalid Schedule Expression")
        stub.add_client_error("create_schedule", "ThrottlingException", "Rate exceeded", http_status_code=429)
        stub.add_client_error("delete_schedule", "InternalServerException", "oops", http_status_code=500)
        # WHEN Scheduler refuses, then throttles, then fails
        with pytest.raises(InvalidInput) as invalid:
            trigger.upsert(schedule("0 * * * *"))
        with pytest.raises(BackendUnavailable) as throttled:
            trigger.upsert(schedule("0 * * * *"))
        with pytest.raises(BackendUnavailable):
            trigger.delete("nightly")
    # THEN each is launchq's own error, carrying AWS's reason
    assert (invalid.value.field, "Invalid Schedule Expression" in invalid.value.detail) == ("cron", True)
    assert "ThrottlingException" in throttled.value.detail
