"""Cron schedules on the AWS stack, through the Lambda handlers, against real local servers.

POST /schedules through the API function creates the EventBridge Scheduler schedule (in
moto); invoking the events function with that schedule's own ``Input`` -- the tick filled
in as Scheduler fills it -- enqueues the tick's run once, however often it arrives, and the
reconciler's fallback adds none. DynamoDB Local holds the state.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest
from pydantic import ValidationError

from functions.aws import events, reconciler
from launchq.adapters.schedulers.eventbridge import SCHEDULED_TIME, EventBridgeSchedulerTrigger
from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
from launchq.adapters.stores.dynamodb import create_table
from launchq.aws.settings import AwsSettings
from launchq.aws.wiring import build_aws, schedule_trigger
from launchq.bootstrap import Services
from tests.functional.aws_harness import CTX, call_api, load_event

GROUP = "launchq-schedules"
EVENTS_FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:launchq-events"
SCHEDULER_ROLE = "arn:aws:iam::123456789012:role/launchq-scheduler"
SAGEMAKER_CONFIG = {
    "RoleArn": "launchq-training",
    "ResourceConfig": {"InstanceType": "ml.m4.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 2},
    "OutputDataConfig": {"S3OutputPath": "s3://launchq-test-output/models"},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
}
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1"


@pytest.fixture
def aws(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """The API function's services, as template.yaml configures them (Scheduler included)."""
    table = f"launchq-{uuid.uuid4().hex[:8]}"
    create_table(boto3.client("dynamodb"), table)
    queue_url = boto3.client("sqs").create_queue(QueueName=f"doorbell-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    boto3.client("scheduler").create_schedule_group(Name=GROUP)
    monkeypatch.setenv("LAUNCHQ_TABLE_NAME", table)
    monkeypatch.setenv("LAUNCHQ_DOORBELL_QUEUE_URL", queue_url)
    monkeypatch.setenv("LAUNCHQ_ACCOUNT_ID", "123456789012")
    monkeypatch.setenv("LAUNCHQ_SCHEDULE_GROUP", GROUP)
    monkeypatch.setenv("LAUNCHQ_SCHEDULER_TARGET_ARN", EVENTS_FUNCTION)
    monkeypatch.setenv("LAUNCHQ_SCHEDULER_ROLE_ARN", SCHEDULER_ROLE)
    svc = build_aws(AwsSettings())
    status, _ = call_api(
        svc, "POST", "/queues", {"name": "sm", "resource": "sagemaker", "config": SAGEMAKER_CONFIG}
    )
    assert status == 201
    yield svc
    boto3.client("dynamodb").delete_table(TableName=table)


def _scheduler_schedules() -> list[str]:
    listed = boto3.client("scheduler").list_schedules(GroupName=GROUP)["Schedules"]
    return [s["Name"] for s in listed]


def _fired(name: str, tick: str) -> dict[str, Any]:
    """The event the events function gets: the schedule's stored Input, filled in by Scheduler."""
    stored = boto3.client("scheduler").get_schedule(Name=name, GroupName=GROUP)
    return dict(json.loads(stored["Target"]["Input"].replace(SCHEDULED_TIME, tick)))


def test_a_scheduler_tick_enqueues_one_run_however_often_it_arrives(aws: Services) -> None:
    svc = aws
    # WHEN a nightly schedule is created through the API
    status, created = call_api(
        svc,
        "POST",
        "/schedules",
        {"name": "nightly", "queue": "sm", "cron": "0 2 * * *", "run": {"docker_image": IMAGE}},
    )
    assert status == 201
    # THEN EventBridge Scheduler holds it, invoking the events function at the converted cron
    stored = boto3.client("scheduler").get_schedule(Name="nightly", GroupName=GROUP)
    assert stored["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert (stored["Target"]["Arn"], stored["Target"]["RoleArn"]) == (EVENTS_FUNCTION, SCHEDULER_ROLE)

    # WHEN Scheduler invokes the events function at the first tick, and retries it
    tick = datetime.fromisoformat(created["next_fire_at"]).strftime("%Y-%m-%dT%H:%M:%SZ")
    first = events.handler(_fired("nightly", tick), CTX, svc)
    again = events.handler(_fired("nightly", tick), CTX, svc)

    # THEN one run was enqueued, with the schedule's spec, and the schedule waits for the next night
    runs = svc.runs.find(queue="sm")
    assert [r.id for r in runs] == [first["run_id"]]
    assert again == first == {"schedule": "nightly", "run_id": runs[0].id}
    assert runs[0].spec.docker_image == IMAGE
    assert runs[0].idempotency_key == f"schedule:nightly:{tick.replace('Z', '+00:00')}"
    assert svc.schedules.all()[0].next_fire_at > datetime.fromisoformat(created["next_fire_at"])
    # AND the reconciler's fallback adds none
    assert reconciler.handler(load_event("scheduled-event.json"), CTX, svc) == {"ok": True}
    assert len(svc.runs.find(queue="sm")) == 1


def test_a_cron_scheduler_cannot_run_is_refused_and_nothing_is_stored(aws: Services) -> None:
    # WHEN a schedule restricting both day-of-month and day-of-week is posted
    status, body = call_api(
        aws,
        "POST",
        "/schedules",
        {"name": "odd", "queue": "sm", "cron": "0 9 1 * MON", "run": {"docker_image": IMAGE}},
    )
    # THEN it is refused as the cron's fault, and neither launchq nor Scheduler holds it
    assert status == 422
    assert body["field"] == "cron"
    assert call_api(aws, "GET", "/schedules") == (200, {"schedules": []})
    assert _scheduler_schedules() == []


def test_deleting_a_schedule_deletes_the_scheduler_schedule(aws: Services) -> None:
    spec = {"name": "nightly", "queue": "sm", "cron": "0 2 * * *", "run": {"docker_image": IMAGE}}
    assert call_api(aws, "POST", "/schedules", spec)[0] == 201
    assert _scheduler_schedules() == ["nightly"]

    assert call_api(aws, "DELETE", "/schedules/nightly")[0] == 204

    assert _scheduler_schedules() == []
    assert call_api(aws, "GET", "/schedules") == (200, {"schedules": []})


@pytest.mark.parametrize(
    "event",
    [
        {"launchq": "schedule", "name": "nightly", "tick": SCHEDULED_TIME},  # placeholder never filled
        {"launchq": "schedule", "name": "nightly", "tick": "2026-01-01T02:00:00"},  # no time zone
        {"launchq": "schedule", "tick": "2026-01-01T02:00:00Z"},
        {"launchq": "something-else"},
        {},
    ],
)
def test_a_malformed_event_is_ignored_without_a_crash(aws: Services, event: dict[str, Any]) -> None:
    spec = {"name": "nightly", "queue": "sm", "cron": "0 2 * * *", "run": {"docker_image": IMAGE}}
    assert call_api(aws, "POST", "/schedules", spec)[0] == 201

    outcome = events.handler(event, CTX, aws)

    assert outcome["run_id"] is None
    assert aws.runs.find(queue="sm") == []


def test_the_scheduler_is_used_only_when_group_target_and_role_are_all_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the settings of a function template.yaml gives no scheduler variables (the dispatcher's)
    for name in ("LAUNCHQ_SCHEDULE_GROUP", "LAUNCHQ_SCHEDULER_TARGET_ARN", "LAUNCHQ_SCHEDULER_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    base = {"table_name": "launchq", "doorbell_queue_url": "https://sqs.example/doorbell"}
    # THEN only the reconciler fires schedules there
    assert isinstance(schedule_trigger(AwsSettings.model_validate(base)), ReconcilerOnlyTrigger)
    # AND with all three (the API function's), EventBridge Scheduler does
    scheduler = {
        "schedule_group": GROUP,
        "scheduler_target_arn": EVENTS_FUNCTION,
        "scheduler_role_arn": SCHEDULER_ROLE,
    }
    full = AwsSettings.model_validate({**base, **scheduler})
    trigger = schedule_trigger(full)
    assert isinstance(trigger, EventBridgeSchedulerTrigger)
    assert (trigger.group_name, trigger.target_arn, trigger.role_arn) == (
        GROUP,
        EVENTS_FUNCTION,
        SCHEDULER_ROLE,
    )
    # AND a half-configured function fails its cold start, naming the variables
    with pytest.raises(ValidationError, match="LAUNCHQ_SCHEDULER_ROLE_ARN"):
        AwsSettings.model_validate({**base, "schedule_group": GROUP, "scheduler_target_arn": EVENTS_FUNCTION})
