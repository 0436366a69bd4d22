"""The AWS stack end to end through its Lambda handlers, against real local servers.

DynamoDB Local holds the state; moto server plays SQS and SageMaker over HTTP. Events
are the samples under tests/events/ (from ``sam local generate-event``), filled with the
real messages and jobs: enqueue via the API event -> doorbell message on SQS -> dispatcher
event built from the received message -> SageMaker training job in moto with the resolved
config -> state-change event -> run finished, slot freed, next run dispatched.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from functions.aws import dispatcher, events, reconciler
from launchq.adapters.stores.dynamodb import create_table
from launchq.adapters.targets.sagemaker import SageMakerTarget
from launchq.aws.settings import AwsSettings
from launchq.aws.wiring import build_aws
from launchq.bootstrap import Services
from tests.functional.aws_harness import CTX, call_api, doorbell_event, load_event

# A queue config as W&B's SageMaker docs write it (the role given by name, as many users do).
WANDB_SAGEMAKER_CONFIG = {
    "RoleArn": "launchq-training",
    "ResourceConfig": {"InstanceType": "ml.m4.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 2},
    "OutputDataConfig": {"S3OutputPath": "s3://launchq-test-output/models"},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
}
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1"
ENTITY = "ml-team"  # the stack's Entity parameter, as template.yaml hands it to every function


@pytest.fixture
def aws(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Services, str]]:
    table = f"launchq-{uuid.uuid4().hex[:8]}"
    create_table(boto3.client("dynamodb"), table)
    queue_url = boto3.client("sqs").create_queue(QueueName=f"doorbell-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    monkeypatch.setenv("LAUNCHQ_TABLE_NAME", table)
    monkeypatch.setenv("LAUNCHQ_DOORBELL_QUEUE_URL", queue_url)
    monkeypatch.setenv("LAUNCHQ_ACCOUNT_ID", "123456789012")
    monkeypatch.setenv("LAUNCHQ_ENTITY", ENTITY)
    yield build_aws(AwsSettings()), queue_url
    boto3.client("dynamodb").delete_table(TableName=table)


def _state_change(job_name: str) -> dict[str, Any]:
    job = boto3.client("sagemaker").describe_training_job(TrainingJobName=job_name)
    tags = boto3.client("sagemaker").list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]
    event = load_event("sagemaker-training-job-state-change.json")
    event["detail"].update(
        TrainingJobName=job_name,
        TrainingJobArn=job["TrainingJobArn"],
        TrainingJobStatus=job["TrainingJobStatus"],
        Tags={t["Key"]: t["Value"] for t in tags},
    )
    return event


def test_enqueue_dispatch_train_finish_and_next(
    aws: tuple[Services, str], capsys: pytest.CaptureFixture[str]
) -> None:
    svc, queue_url = aws
    # GIVEN a SageMaker queue with one slot, configured as W&B users write it
    status, _ = call_api(
        svc,
        "POST",
        "/queues",
        {"name": "sm", "resource": "sagemaker", "config": WANDB_SAGEMAKER_CONFIG, "max_jobs": 1},
    )
    assert status == 201

    # WHEN two runs are enqueued through the API
    first = call_api(
        svc, "POST", "/queues/sm/runs", {"docker_image": IMAGE, "name": "first", "priority": "high"}
    )[1]
    second = call_api(svc, "POST", "/queues/sm/runs", {"docker_image": IMAGE, "name": "second"})[1]
    assert (first["position"], second["position"]) == (1, 2)

    # THEN the doorbell rang on SQS, and the dispatcher (fed the real messages) launches only the first
    batch = doorbell_event(queue_url)
    assert batch["Records"]
    assert dispatcher.handler(batch, CTX, svc) == {"batchItemFailures": []}
    jobs = boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]
    assert len(jobs) == 1
    job = boto3.client("sagemaker").describe_training_job(TrainingJobName=jobs[0]["TrainingJobName"])
    assert job["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert job["RoleArn"] == "arn:aws:iam::123456789012:role/launchq-training"
    assert job["ResourceConfig"]["InstanceType"] == "ml.m4.xlarge"
    assert svc.runs.get(first["id"]).state.value == "starting"
    assert svc.runs.get(second["id"]).state.value == "queued"
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    values = [m["RunsLaunched"] for m in emitted if "RunsLaunched" in m]  # CloudWatch EMF, one blob
    assert len(values) == 1
    assert sum(values[0] if isinstance(values[0], list) else [values[0]]) == 1

    # WHEN SageMaker reports the job's state change
    outcome = events.handler(_state_change(jobs[0]["TrainingJobName"]), CTX, svc)

    # THEN the run is finished, its slot freed, and the next run is dispatched
    assert outcome == {"run_id": first["id"], "state": "finished"}
    assert dispatcher.handler(doorbell_event(queue_url), CTX, svc) == {"batchItemFailures": []}
    assert svc.runs.get(second["id"]).state.value == "starting"
    assert len(boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]) == 2


def test_a_bad_doorbell_message_fails_alone(aws: tuple[Services, str]) -> None:
    svc, queue_url = aws
    call_api(
        svc, "POST", "/queues", {"name": "sm", "resource": "sagemaker", "config": WANDB_SAGEMAKER_CONFIG}
    )
    call_api(svc, "POST", "/queues/sm/runs", {"docker_image": IMAGE})
    boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody="not json")
    batch = doorbell_event(queue_url)
    assert len(batch["Records"]) == 2

    result = dispatcher.handler(batch, CTX, svc)

    bad = [r["messageId"] for r in batch["Records"] if r["body"] == "not json"]
    assert result == {"batchItemFailures": [{"itemIdentifier": bad[0]}]}
    assert len(boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]) == 1


def test_the_reconciler_polls_when_no_event_arrives(aws: tuple[Services, str]) -> None:
    svc, queue_url = aws
    call_api(
        svc, "POST", "/queues", {"name": "sm", "resource": "sagemaker", "config": WANDB_SAGEMAKER_CONFIG}
    )
    run = call_api(svc, "POST", "/queues/sm/runs", {"docker_image": IMAGE})[1]
    dispatcher.handler(doorbell_event(queue_url), CTX, svc)

    assert reconciler.handler(load_event("scheduled-event.json"), CTX, svc) == {"ok": True}

    assert svc.runs.get(run["id"]).state.value == "finished"  # moto completes jobs at once


def test_idempotent_enqueue_goes_through_powertools_on_the_same_table(aws: tuple[Services, str]) -> None:
    svc, _ = aws
    call_api(
        svc, "POST", "/queues", {"name": "sm", "resource": "sagemaker", "config": WANDB_SAGEMAKER_CONFIG}
    )
    key = {"Idempotency-Key": "nightly-2026-01-01"}
    body = {"docker_image": IMAGE, "name": "nightly"}

    first = call_api(svc, "POST", "/queues/sm/runs", body, key)
    again = call_api(svc, "POST", "/queues/sm/runs", body, key)
    other = call_api(svc, "POST", "/queues/sm/runs", {**body, "name": "other"}, key)

    assert first[0] == 201
    assert again == (200, {**first[1], "position": again[1]["position"]})
    assert other[0] == 409
    assert other[1]["field"] == "Idempotency-Key"
    assert len(svc.runs.find(queue="sm")) == 1
    records = boto3.client("dynamodb").query(
        TableName=os.environ["LAUNCHQ_TABLE_NAME"],
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "IDEMPOTENCY#enqueue"}},
    )["Items"]
    assert len(records) == 1
    assert records[0]["status"]["S"] == "COMPLETED"
    assert "expires_at" in records[0]


def test_runs_get_the_stacks_entity_unless_their_queue_names_its_own(aws: tuple[Services, str]) -> None:
    svc, queue_url = aws
    # GIVEN a queue created without an entity, and one created with its own
    for name, extra in (("sm", {}), ("theirs", {"entity": "other-team"})):
        body = {"name": name, "resource": "sagemaker", "config": WANDB_SAGEMAKER_CONFIG, **extra}
        assert call_api(svc, "POST", "/queues", body)[0] == 201
    # (moto keeps no job's Environment: read the CreateTrainingJob requests boto3 sends it)
    target = svc.ctx.targets.get("sagemaker")
    assert isinstance(target, SageMakerTarget)
    sent: list[dict[str, Any]] = []
    target.client.meta.events.register(
        "provide-client-params.sagemaker.CreateTrainingJob", lambda params, **_: sent.append(params)
    )

    # WHEN a run is enqueued on each and dispatched
    ours = call_api(svc, "POST", "/queues/sm/runs", {"docker_image": IMAGE})[1]
    theirs = call_api(svc, "POST", "/queues/theirs/runs", {"docker_image": IMAGE})[1]
    assert dispatcher.handler(doorbell_event(queue_url), CTX, svc) == {"batchItemFailures": []}

    # THEN each training job logs to W&B under its queue's entity: the stack's by default
    entities = {job["Environment"]["LAUNCHQ_RUN_ID"]: job["Environment"]["WANDB_ENTITY"] for job in sent}
    assert entities == {ours["id"]: ENTITY, theirs["id"]: "other-team"}
    assert call_api(svc, "GET", f"/runs/{ours['id']}")[1]["entity"] == ENTITY
