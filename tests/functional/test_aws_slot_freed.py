"""A slot freed on the AWS stack wakes the dispatcher through the real doorbell (SQS on moto).

On AWS only a doorbell message starts a dispatch. A queue with one slot, held by a run whose
CodeBuild build then fails, must get its next run launched from the message the failure
sends, without anyone enqueueing again. The stack is test_aws_builds.py's: DynamoDB Local,
moto's SQS, S3, ECR, CodeBuild and SageMaker, and the Lambda handlers fed real messages.
"""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from functions.aws import dispatcher, events
from launchq.adapters.doorbells.sqs import parse_doorbell
from launchq.domain.states import RunState
from tests.functional.aws_harness import CTX, call_api, doorbell_event
from tests.functional.test_aws_builds import (  # the stack fixture and its helpers
    Stack,
    _build_event,
    _upload_code_and_queue,
    aws,  # noqa: F401
)

PREBUILT = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1"


def test_a_failed_build_frees_its_slot_and_the_doorbell_launches_the_next_run(aws: Stack) -> None:  # noqa: F811 - the imported fixture
    # GIVEN a SageMaker queue with one slot, held by a run whose CodeBuild build is under way
    uri = _upload_code_and_queue(aws)
    status, patched = call_api(aws.svc, "PATCH", "/queues/sm", {"max_jobs": 1})
    assert status == 200, patched
    status, built = call_api(aws.svc, "POST", "/queues/sm/runs", {"uri": uri, "name": "built"})
    assert status == 201, built
    assert dispatcher.handler(doorbell_event(aws.queue_url), CTX, aws.svc) == {"batchItemFailures": []}
    building = aws.svc.runs.get(built["id"])
    assert building.state is RunState.BUILDING, building.reason
    # AND a prebuilt run in line behind it, its doorbell message handled while the slot is taken
    status, waiting = call_api(aws.svc, "POST", "/queues/sm/runs", {"docker_image": PREBUILT, "name": "next"})
    assert status == 201, waiting
    assert dispatcher.handler(doorbell_event(aws.queue_url), CTX, aws.svc) == {"batchItemFailures": []}
    assert aws.svc.runs.get(waiting["id"]).state is RunState.QUEUED

    # WHEN CodeBuild reports the build FAILED (moto says SUCCEEDED: its answer is stubbed)
    build_id = building.build_id
    assert build_id is not None
    record = boto3.client("codebuild").batch_get_builds(ids=[build_id])["builds"][0]
    failed = record | {"buildStatus": "FAILED", "currentPhase": "COMPLETED"}
    with Stubber(aws.builder.codebuild) as stubber:
        stubber.add_response("batch_get_builds", {"builds": [failed]}, {"ids": [build_id]})
        outcome = events.handler(_build_event(aws, build_id, "FAILED"), CTX, aws.svc)

    # THEN the run is dead-lettered, and a doorbell message for its queue is on SQS
    assert outcome["state"] == "dead_letter"
    event = doorbell_event(aws.queue_url)
    assert [parse_doorbell(record["body"]) for record in event["Records"]] == ["sm"]
    # AND that message alone launches the run that waited: a SageMaker job with its image
    assert dispatcher.handler(event, CTX, aws.svc) == {"batchItemFailures": []}
    launched = aws.svc.runs.get(waiting["id"])
    assert launched.state is RunState.STARTING, launched.reason
    job = boto3.client("sagemaker").describe_training_job(
        TrainingJobName=launched.handle["training_job_name"]
    )
    assert job["AlgorithmSpecification"]["TrainingImage"] == PREBUILT
