"""The SageMaker target against a real moto server over HTTP (SageMaker, STS, CloudWatch Logs).

moto keeps training jobs as records that are ``Completed`` at once, does not keep a job's
``Environment`` and does not implement ``StopTrainingJob``. So: the request's environment
is read from the request boto3 actually sent (a botocore event hook, the call still goes
to moto); statuses moto cannot produce are fed to the target with botocore's ``Stubber``,
as DescribeTrainingJob answers *recorded from moto* with only the status fields changed;
and the stop request shape is pinned with ``Stubber``. Each such test says so.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from mypy_boto3_logs import CloudWatchLogsClient
from mypy_boto3_sagemaker import SageMakerClient

from launchq.adapters.targets.sagemaker import LOG_GROUP, SageMakerTarget, sagemaker_state_change_run_id
from launchq.domain.models import Run, RunSpec
from launchq.errors import BackendUnavailable, InvalidInput, LaunchFailed

pytestmark = pytest.mark.integration

MOTO_ACCOUNT = "123456789012"  # what moto's STS GetCallerIdentity answers
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1"


def wandb_docs_config() -> dict[str, Any]:
    """The shape of the queue config W&B's SageMaker setup guide shows, with our own values."""
    return {
        "RoleArn": "LaunchqTrainingRole",
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "OutputDataConfig": {"S3OutputPath": "s3://launchq-artifacts/output"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 7200},
    }


def snake_case_config() -> dict[str, Any]:
    return {
        "role_arn": "LaunchqTrainingRole",
        "resource_config": {"instance_type": "ml.m5.xlarge", "instance_count": 1, "volume_size_in_gb": 5},
        "output_data_config": {"s3_output_path": "s3://launchq-artifacts/output"},
        "stopping_condition": {"max_runtime_in_seconds": 7200},
    }


def make_run(resolved: dict[str, Any], **spec: Any) -> Run:
    now = datetime.now(UTC)
    spec.setdefault("docker_image", IMAGE)
    return Run(
        id=uuid.uuid4().hex[:16],
        queue="sm-queue",
        entity="team-a",
        spec=RunSpec(**spec),
        resolved=resolved,
        created_at=now,
        updated_at=now,
    )


@pytest.fixture
def sagemaker(aws_env: dict[str, str]) -> SageMakerClient:
    return boto3.client("sagemaker")  # AWS_ENDPOINT_URL points it at moto


@pytest.fixture
def logs(aws_env: dict[str, str]) -> CloudWatchLogsClient:
    return boto3.client("logs")


@pytest.fixture
def target(aws_env: dict[str, str]) -> SageMakerTarget:
    """Built like the Lambda builds it: no clients given, the account found through STS."""
    return SageMakerTarget()


@pytest.fixture
def sent(target: SageMakerTarget) -> list[dict[str, Any]]:
    """The CreateTrainingJob requests the target's client sends (to moto)."""
    requests: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        requests.append(dict(params))

    target.client.meta.events.register("provide-client-params.sagemaker.CreateTrainingJob", capture)
    return requests


def launch(target: SageMakerTarget, run: Run) -> Run:
    target.validate(run.spec, run.resolved)
    return run.model_copy(update={"handle": target.submit(run)})


def described(sagemaker: SageMakerClient, run: Run) -> dict[str, Any]:
    answer = dict(sagemaker.describe_training_job(TrainingJobName=run.handle["training_job_name"]))
    answer.pop("ResponseMetadata")
    return answer


def tags_of(sagemaker: SageMakerClient, run: Run) -> dict[str, str]:
    tags = sagemaker.list_tags(ResourceArn=run.handle["training_job_arn"])["Tags"]
    return {tag["Key"]: tag["Value"] for tag in tags}


def recorded(sagemaker: SageMakerClient, run: Run, **fields: str) -> dict[str, Any]:
    """moto's DescribeTrainingJob answer for the run's job, with ``fields`` set (for Stubber)."""
    return described(sagemaker, run) | fields


@contextmanager
def stubbed(target: SageMakerTarget) -> Iterator[Stubber]:
    """Stubber on the target's own client: for answers and operations moto cannot give."""
    with Stubber(target.client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def refuse(stubber: Stubber, operation: str, code: str, message: str = "no", status: int = 400) -> None:
    stubber.add_client_error(
        operation, service_error_code=code, service_message=message, http_status_code=status
    )


# -- submit -------------------------------------------------------------------------------
def test_the_wandb_docs_config_launches_unchanged(
    target: SageMakerTarget, sagemaker: SageMakerClient, sent: list[dict[str, Any]]
) -> None:
    # GIVEN the queue config exactly in the shape of W&B's SageMaker guide, with a bare role name
    run = make_run(wandb_docs_config(), env={"LR": "0.1"}, project="vision")
    # WHEN it is validated and submitted
    launched = launch(target, run)
    # THEN a training job exists in moto under the handle's name, one per run
    job = described(sagemaker, launched)
    assert launched.handle == {
        "training_job_name": f"launchq-{run.id}",
        "training_job_arn": job["TrainingJobArn"],
    }
    # AND it runs the run's image, as the bare role expanded with the account STS reports
    assert job["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert job["RoleArn"] == f"arn:aws:iam::{MOTO_ACCOUNT}:role/LaunchqTrainingRole"
    assert job["ResourceConfig"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5}
    assert job["OutputDataConfig"] == {"S3OutputPath": "s3://launchq-artifacts/output"}
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}
    # AND it is tagged with the run and its queue
    assert tags_of(sagemaker, launched) == {"launchq:run-id": run.id, "launchq:queue": "sm-queue"}
    # AND the environment sent carries the run's env and the W&B/launchq variables
    # (moto does not keep a job's Environment: this is the request boto3 sent to it)
    assert sent[-1]["Environment"] == {
        "LR": "0.1",
        "LAUNCHQ_RUN_ID": run.id,
        "LAUNCHQ_QUEUE": "sm-queue",
        "WANDB_LAUNCH": "True",
        "WANDB_RUN_ID": run.id,
        "WANDB_LAUNCH_QUEUE_NAME": "sm-queue",
        "WANDB_PROJECT": "vision",
        "WANDB_ENTITY": "team-a",
    }


def test_snake_case_config_sends_the_same_request(
    target: SageMakerTarget, sagemaker: SageMakerClient, sent: list[dict[str, Any]]
) -> None:
    # GIVEN the same config written in snake_case, nested keys included (volume_size_in_gb)
    launch(target, make_run(wandb_docs_config()))
    launched = launch(target, make_run(snake_case_config()))
    # THEN the two requests differ only by the run they belong to
    per_run = ("TrainingJobName", "Tags", "Environment")
    first, second = ({k: v for k, v in request.items() if k not in per_run} for request in sent)
    assert first == second
    assert described(sagemaker, launched)["ResourceConfig"]["VolumeSizeInGB"] == 5


def test_run_name_image_uri_entry_point_and_role_arns(
    aws_env: dict[str, str], sagemaker: SageMakerClient
) -> None:
    # GIVEN a target told its account (no STS), TrainingImage from the builder's ${image_uri}
    # (already substituted by the dispatcher), an entry point, args and numeric hyperparameters
    target = SageMakerTarget(account_id="111122223333")
    config = wandb_docs_config() | {
        "AlgorithmSpecification": {"TrainingImage": "built:abc123"},
        "HyperParameters": {"epochs": 3, "lr": 0.01},
    }
    run = make_run(config, name="ResNet 50 / sweep #3", entry_point="python train.py", args=["--fast"])
    launched = launch(target, run)
    job = described(sagemaker, launched)
    # THEN the job name is a valid slug of the run name plus the run id
    assert launched.handle["training_job_name"] == f"ResNet-50-sweep-3-{run.id}"
    # AND the config's image wins over docker_image, the command is the container's entry point
    assert job["AlgorithmSpecification"]["TrainingImage"] == "built:abc123"
    assert job["AlgorithmSpecification"]["ContainerEntrypoint"] == ["python", "train.py"]
    assert job["AlgorithmSpecification"]["ContainerArguments"] == ["--fast"]
    # AND the bare role uses the configured account; hyperparameters go as SageMaker's strings
    assert job["RoleArn"] == "arn:aws:iam::111122223333:role/LaunchqTrainingRole"
    assert job["HyperParameters"] == {"epochs": "3", "lr": "0.01"}
    # AND a full role ARN is kept as given
    other = launch(target, make_run(wandb_docs_config() | {"RoleArn": "arn:aws:iam::444455556666:role/X"}))
    assert described(sagemaker, other)["RoleArn"] == "arn:aws:iam::444455556666:role/X"


def test_stopping_condition_defaults_to_one_day(target: SageMakerTarget, sagemaker: SageMakerClient) -> None:
    config = wandb_docs_config()
    del config["StoppingCondition"]
    job = described(sagemaker, launch(target, make_run(config)))
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 86_400}


def test_user_tags_are_kept_and_ours_cannot_be_overridden(
    target: SageMakerTarget, sagemaker: SageMakerClient
) -> None:
    tags = [{"Key": "team", "Value": "vision"}, {"Key": "launchq:run-id", "Value": "spoofed"}]
    run = make_run(wandb_docs_config() | {"Tags": tags})
    expected = {"team": "vision", "launchq:run-id": run.id, "launchq:queue": "sm-queue"}
    assert tags_of(sagemaker, launch(target, run)) == expected


# -- validate -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"Foo": 1}, "Foo"),
        ({"ResourceConfig": {"InstanceType": "ml.m5.xlarge", "Bogus": 1}}, "ResourceConfig.Bogus"),
        ({"region": "Europe"}, "region"),
        ({"profile": "no-such-profile"}, "profile"),
        ({"EcrRepoName": "other-repo"}, "EcrRepoName"),
        ({"Environment": {"BIG": "x" * 513}}, "Environment.BIG"),
        ({"Environment": {"1BAD": "x"}}, "Environment.1BAD"),
        ({"RoleArn": None}, "RoleArn"),
        ({"OutputDataConfig": {}}, "OutputDataConfig.S3OutputPath"),
        ({"OutputDataConfig": {"S3OutputPath": "bucket/out"}}, "OutputDataConfig.S3OutputPath"),
        ({"ResourceConfig": {"VolumeSizeInGB": 5, "InstanceCount": 1}}, "ResourceConfig.InstanceType"),
        ({"TrainingJobName": "bad_name"}, "TrainingJobName"),
    ],
)
def test_validate_refuses_bad_config_naming_the_field(
    target: SageMakerTarget, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        target.validate(RunSpec(docker_image=IMAGE), wandb_docs_config() | change)
    assert caught.value.field == f"resource_args.sagemaker.{field}"


def test_an_environment_value_over_512_characters_is_refused_not_split(target: SageMakerTarget) -> None:
    # GIVEN a value of exactly 512 characters (accepted) and one of 513 in the run's env
    target.validate(RunSpec(docker_image=IMAGE, env={"OK": "x" * 512}), wandb_docs_config())
    with pytest.raises(InvalidInput) as caught:
        target.validate(RunSpec(docker_image=IMAGE, env={"TOKENS": "x" * 513}), wandb_docs_config())
    # THEN the refusal names the variable and the limit
    assert caught.value.field == "env.TOKENS"
    assert "512" in caught.value.detail


def test_a_run_without_an_image_is_refused(target: SageMakerTarget) -> None:
    source = RunSpec(uri="https://example.com/repo.git")
    with pytest.raises(InvalidInput) as caught:
        target.validate(source, wandb_docs_config())
    assert caught.value.field == "docker_image"
    assert "${image_uri}" in caught.value.detail
    # ... and accepted once the config takes the builder's image
    target.validate(
        source, wandb_docs_config() | {"AlgorithmSpecification": {"TrainingImage": "${image_uri}"}}
    )


def test_macros_in_the_role_and_job_name_are_accepted_at_enqueue(target: SageMakerTarget) -> None:
    # ${...} macros are substituted only at submit; enqueue must not refuse them as malformed
    config = wandb_docs_config() | {"RoleArn": "${queue_name}-role", "TrainingJobName": "train-${run_id}"}
    target.validate(RunSpec(docker_image=IMAGE), config)


def test_wrong_types_are_refused_at_enqueue_without_echoing_values(target: SageMakerTarget) -> None:
    resources = {"InstanceType": "ml.m5.xlarge", "InstanceCount": "secret-ish", "VolumeSizeInGB": 5}
    with pytest.raises(InvalidInput) as caught:
        target.validate(RunSpec(docker_image=IMAGE), wandb_docs_config() | {"ResourceConfig": resources})
    assert "ResourceConfig.InstanceCount" in caught.value.detail
    assert "secret-ish" not in caught.value.detail


# -- submit errors (moto accepts any job: SageMaker's refusals are replayed through Stubber) --
@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("ValidationException", 400, LaunchFailed),
        ("ResourceLimitExceeded", 400, LaunchFailed),
        ("AccessDeniedException", 400, LaunchFailed),
        ("ThrottlingException", 400, BackendUnavailable),
        ("InternalFailure", 500, BackendUnavailable),
    ],
)
def test_submit_maps_aws_refusals(
    target: SageMakerTarget, code: str, status: int, error: type[Exception]
) -> None:
    with stubbed(target) as stubber:  # STS (for the bare role) still answers from moto
        refuse(stubber, "create_training_job", code, f"{code} says no", status)
        with pytest.raises(error) as caught:
            target.submit(make_run(wandb_docs_config()))
    assert f"{code}: {code} says no" in str(caught.value)


def test_a_retried_submit_adopts_its_own_job(target: SageMakerTarget, sagemaker: SageMakerClient) -> None:
    # GIVEN a job already created for the run (a first attempt whose answer was lost)
    run = make_run(wandb_docs_config())
    first = launch(target, run)
    job = described(sagemaker, first)
    tags = sagemaker.list_tags(ResourceArn=first.handle["training_job_arn"])["Tags"]
    other = make_run(wandb_docs_config() | {"TrainingJobName": job["TrainingJobName"]})
    # WHEN it is submitted again and SageMaker says the name is in use (moto overwrites instead)
    # THEN the run adopts its job; another run reusing that job name is refused
    for again, outcome in ((run, first.handle), (other, None)):
        with stubbed(target) as stubber:
            refuse(stubber, "create_training_job", "ResourceInUse")
            stubber.add_response("describe_training_job", job, {"TrainingJobName": job["TrainingJobName"]})
            stubber.add_response("list_tags", {"Tags": tags}, {"ResourceArn": job["TrainingJobArn"]})
            if outcome is None:
                with pytest.raises(LaunchFailed, match="belongs to another run"):
                    target.submit(again)
            else:
                assert target.submit(again) == outcome


def test_an_unreachable_endpoint_is_backend_unavailable(aws_env: dict[str, str]) -> None:
    from botocore.config import Config

    config = Config(retries={"max_attempts": 1}, connect_timeout=1)
    target = SageMakerTarget(boto3.client("sagemaker", endpoint_url="http://127.0.0.1:9", config=config))
    run = make_run(wandb_docs_config() | {"RoleArn": "arn:aws:iam::123456789012:role/X"})
    with pytest.raises(BackendUnavailable):
        target.submit(run)
    with pytest.raises(BackendUnavailable):
        target.status(run.model_copy(update={"handle": {"training_job_name": "x"}}))


# -- status -------------------------------------------------------------------------------
def test_a_completed_job_is_finished_and_a_missing_one_lost(target: SageMakerTarget) -> None:
    # GIVEN a job moto completed at once
    launched = launch(target, make_run(wandb_docs_config()))
    assert target.status(launched).state == "finished"
    # AND a handle naming a job SageMaker does not know, and a run with no handle
    ghost = launched.model_copy(update={"handle": {"training_job_name": "never-created"}})
    assert target.status(ghost).state == "lost"
    assert target.status(launched.model_copy(update={"handle": {}})).state == "lost"


@pytest.mark.parametrize(
    ("status", "secondary", "state", "detail"),
    [
        ("InProgress", "Starting", "starting", "Starting"),
        ("InProgress", "Pending", "starting", "Pending"),
        ("InProgress", "Downloading", "running", "Downloading"),
        ("InProgress", "Training", "running", "Training"),
        ("Stopping", "Stopping", "running", "stopping"),
        ("Failed", "Failed", "failed", "AlgorithmError: exit 3"),
        ("Stopped", "Stopped", "stopped", "Stopped"),
        ("Stopped", "MaxRuntimeExceeded", "stopped", "MaxRuntimeExceeded"),
        ("Completed", "Completed", "finished", "Completed"),
    ],
)
def test_each_sagemaker_status_maps_to_a_target_state(
    target: SageMakerTarget, sagemaker: SageMakerClient, status: str, secondary: str, state: str, detail: str
) -> None:
    # GIVEN moto's recorded DescribeTrainingJob answer for a real job, with the status fields
    # set to what moto cannot produce, replayed through Stubber
    launched = launch(target, make_run(wandb_docs_config()))
    answer = recorded(sagemaker, launched, TrainingJobStatus=status, SecondaryStatus=secondary)
    if status == "Failed":
        answer["FailureReason"] = "AlgorithmError: exit 3"
    with stubbed(target) as stubber:
        stubber.add_response("describe_training_job", answer, {"TrainingJobName": answer["TrainingJobName"]})
        reported = target.status(launched)
    # THEN the state is launchq's mapping (Stopped is never "finished")
    assert reported.state == state
    assert detail in reported.detail


# -- stop (no local server implements StopTrainingJob: the request shape is pinned) --------
def test_stop_sends_stop_training_job_and_is_idempotent(
    target: SageMakerTarget, sagemaker: SageMakerClient
) -> None:
    launched = launch(target, make_run(wandb_docs_config()))
    name = {"TrainingJobName": launched.handle["training_job_name"]}
    with stubbed(target) as stubber:
        # accepted; then refused as no longer InProgress, and the target looks: Stopped
        stubber.add_response("stop_training_job", {}, name)
        refuse(stubber, "stop_training_job", "ValidationException", "not in a stoppable state")
        stopped = recorded(sagemaker, launched, TrainingJobStatus="Stopped", SecondaryStatus="Stopped")
        stubber.add_response("describe_training_job", stopped, name)
        # a job SageMaker no longer knows: nothing to stop
        refuse(stubber, "stop_training_job", "ValidationException", "Requested resource not found.")
        for _ in range(3):
            target.stop(launched)
    target.stop(launched.model_copy(update={"handle": {}}))  # never launched: no call at all


def test_stop_of_a_running_job_that_sagemaker_refuses_is_backend_unavailable(
    target: SageMakerTarget, sagemaker: SageMakerClient
) -> None:
    launched = launch(target, make_run(wandb_docs_config()))
    running = recorded(sagemaker, launched, TrainingJobStatus="InProgress", SecondaryStatus="Training")
    with stubbed(target) as stubber:
        refuse(stubber, "stop_training_job", "ValidationException")
        stubber.add_response(
            "describe_training_job", running, {"TrainingJobName": running["TrainingJobName"]}
        )
        refuse(stubber, "stop_training_job", "ThrottlingException", "slow")
        with pytest.raises(BackendUnavailable):
            target.stop(launched)
        with pytest.raises(BackendUnavailable, match="ThrottlingException"):
            target.stop(launched)


# -- logs ---------------------------------------------------------------------------------
# CloudWatch refuses events older than 14 days: times are milliseconds after a minute ago.
T0 = int(time.time() * 1000) - 60_000


def put(logs: CloudWatchLogsClient, stream: str, *events: tuple[int, str]) -> None:
    logs.put_log_events(
        logGroupName=LOG_GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": T0 + at, "message": message} for at, message in events],
    )


def test_logs_come_from_the_jobs_cloudwatch_streams(
    target: SageMakerTarget, logs: CloudWatchLogsClient
) -> None:
    launched = launch(target, make_run(wandb_docs_config()))
    name = launched.handle["training_job_name"]
    # GIVEN no log group yet  THEN no text, and the offset stays
    assert target.logs(launched, 3) == ("", 3)
    # GIVEN the SageMaker log group with a stream of this job, and one of a job whose name
    # starts the same way
    logs.create_log_group(logGroupName=LOG_GROUP)
    assert target.logs(launched) == ("", 0)
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=f"{name}/algo-1-1700000000")
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=f"{name}x/algo-1-1700000000")
    put(logs, f"{name}/algo-1-1700000000", (1000, "epoch 1"), (2000, "epoch 2"))
    put(logs, f"{name}x/algo-1-1700000000", (1500, "not ours"))
    # WHEN read from the start  THEN this job's lines, and the next offset counts them
    assert target.logs(launched) == ("epoch 1\nepoch 2\n", 2)
    # WHEN more lines arrive (and a second instance starts logging)  THEN only the new ones
    put(logs, f"{name}/algo-1-1700000000", (4000, "epoch 3"))
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=f"{name}/algo-2-1700000000")
    put(logs, f"{name}/algo-2-1700000000", (3000, "worker 2 up"))
    assert target.logs(launched, 2) == ("worker 2 up\nepoch 3\n", 4)
    assert target.logs(launched, 4) == ("", 4)
    with pytest.raises(InvalidInput):
        target.logs(launched, -1)


# -- EventBridge ------------------------------------------------------------------------------
def test_state_change_event_leads_back_to_the_run() -> None:
    # GIVEN the detail of a "SageMaker Training Job State Change" event (Tags is a map there)
    detail = {
        "TrainingJobName": "launchq-0123456789abcdef",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/launchq-0123456789abcdef",
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "Tags": {"launchq:run-id": "0123456789abcdef", "launchq:queue": "sm-queue"},
    }
    assert sagemaker_state_change_run_id(detail) == "0123456789abcdef"
    # AND the DescribeTrainingJob list form is read too; a job launchq did not start has none
    assert sagemaker_state_change_run_id({"Tags": [{"Key": "launchq:run-id", "Value": "r1"}]}) == "r1"
    assert sagemaker_state_change_run_id(detail | {"Tags": {}}) is None
    assert sagemaker_state_change_run_id({"TrainingJobName": "x"}) is None


# -- W&B users' own queue configs -----------------------------------------------------------
def test_keys_set_to_null_are_dropped_as_in_wandb(
    target: SageMakerTarget, sagemaker: SageMakerClient, sent: list[dict[str, Any]]
) -> None:
    # GIVEN a W&B queue config with keys switched off by null, at the top and nested
    config = wandb_docs_config() | {
        "VpcConfig": None,
        "HyperParameters": None,
        "TrainingJobName": None,
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5,
                           "VolumeKmsKeyId": None},
    }  # fmt: skip
    # WHEN it is validated and submitted
    launched = launch(target, make_run(config))
    # THEN the job is created without them (and with launchq's own job name)
    request = sent[-1]
    assert "VpcConfig" not in request
    assert "HyperParameters" not in request
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 5,
    }
    assert described(sagemaker, launched)["TrainingJobName"] == f"launchq-{launched.id}"


def test_region_key_submits_to_that_region_and_the_run_is_followed_there(target: SageMakerTarget) -> None:
    # GIVEN W&B's launcher key `region` in resource_args.sagemaker, other than the default
    run = make_run(wandb_docs_config() | {"region": "eu-west-1"})
    # WHEN it is submitted
    launched = launch(target, run)
    # THEN the job is in eu-west-1 (moto keeps regions apart), not in the default region
    name = launched.handle["training_job_name"]
    assert launched.handle["region"] == "eu-west-1"
    assert boto3.client("sagemaker", region_name="eu-west-1").describe_training_job(TrainingJobName=name)
    with pytest.raises(sagemaker_error()):
        boto3.client("sagemaker", region_name="us-east-1").describe_training_job(TrainingJobName=name)
    # AND status and logs are read in eu-west-1 too
    assert target.status(launched).state == "finished"
    logs = boto3.client("logs", region_name="eu-west-1")
    logs.create_log_group(logGroupName=LOG_GROUP)
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=f"{name}/algo-1-1")
    events = [{"timestamp": int(time.time() * 1000), "message": "epoch 1 in eu-west-1"}]
    logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=f"{name}/algo-1-1", logEvents=events)
    assert target.logs(launched) == ("epoch 1 in eu-west-1\n", 1)


def sagemaker_error() -> type[Exception]:
    from botocore.exceptions import ClientError

    return ClientError


def test_profile_key_submits_with_that_aws_profile(
    target: SageMakerTarget, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an AWS profile "research" whose region is eu-central-1, named by W&B's `profile` key
    config_file = tmp_path / "aws-config"
    config_file.write_text(
        "[profile research]\nregion = eu-central-1\n"
        "aws_access_key_id = research\naws_secret_access_key = research\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_file))
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):  # they would win over the profile's region
        monkeypatch.delenv(variable)
    run = make_run(wandb_docs_config() | {"profile": "research"})
    # WHEN it is submitted
    launched = launch(target, run)
    # THEN the job was created through that profile, in its region, and is followed there
    assert launched.handle["profile"] == "research"
    name = launched.handle["training_job_name"]
    job = boto3.client("sagemaker", region_name="eu-central-1").describe_training_job(TrainingJobName=name)
    assert job["RoleArn"] == f"arn:aws:iam::{MOTO_ACCOUNT}:role/LaunchqTrainingRole"
    assert target.status(launched).state == "finished"


def test_ecr_repo_name_is_checked_against_the_image_and_never_sent(
    target: SageMakerTarget, sent: list[dict[str, Any]]
) -> None:
    # GIVEN W&B's EcrRepoName naming the repository the run's image is in
    launch(target, make_run(wandb_docs_config() | {"EcrRepoName": "train"}))
    # THEN the job launches and SageMaker never sees the key
    assert "EcrRepoName" not in sent[-1]
    # AND an image built elsewhere is refused at submit, naming the key
    built_elsewhere = wandb_docs_config() | {
        "EcrRepoName": "train",
        "AlgorithmSpecification": {"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/other:abc"},
    }
    with pytest.raises(LaunchFailed, match=r"EcrRepoName.*'other'"):
        target.submit(make_run(built_elsewhere))
    # AND an image from outside ECR too
    with pytest.raises(InvalidInput, match="not in ECR"):
        target.validate(RunSpec(docker_image="python:3.11"), wandb_docs_config() | {"EcrRepoName": "train"})


def test_the_users_own_environment_wins_and_the_handle_says_so(
    target: SageMakerTarget, sent: list[dict[str, Any]]
) -> None:
    # GIVEN the queue config sets WANDB_PROJECT itself and the run's env sets WANDB_ENTITY
    config = wandb_docs_config() | {"Environment": {"WANDB_PROJECT": "team-project", "SEED": "1"}}
    launched = launch(target, make_run(config, project="Vision", env={"WANDB_ENTITY": "my-team"}))
    # THEN the user's values are the ones the job gets
    env = sent[-1]["Environment"]
    assert (env["WANDB_PROJECT"], env["WANDB_ENTITY"], env["SEED"]) == ("team-project", "my-team", "1")
    # AND the handle notes which of launchq's values were not used (the dispatcher's event says it)
    note = launched.handle["note"]
    assert "WANDB_PROJECT set by resource_args.sagemaker.Environment" in note
    assert "WANDB_ENTITY set by the run's env" in note
    # AND without such a setting, launchq's project is W&B's lower-cased one and there is no note
    plain = launch(target, make_run(wandb_docs_config(), project="Vision"))
    assert sent[-1]["Environment"]["WANDB_PROJECT"] == "vision"
    assert "note" not in plain.handle


def test_the_submitted_event_says_which_injected_variables_were_replaced(aws_env: dict[str, str]) -> None:
    from launchq.adapters.builders.noop import NoopBuilder
    from launchq.adapters.doorbells.inprocess import InProcessDoorbell
    from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
    from launchq.adapters.stores.memory import MemoryRunStore
    from launchq.bootstrap import build_services
    from launchq.service.context import Context
    from launchq.service.queues import QueueCreate
    from launchq.service.targets import TargetCatalog

    # GIVEN a SageMaker queue whose W&B config sets WANDB_PROJECT
    ctx = Context(
        store=MemoryRunStore(),
        doorbell=InProcessDoorbell(),
        targets=TargetCatalog({"sagemaker": SageMakerTarget()}),
        builder=NoopBuilder(),
        trigger=ReconcilerOnlyTrigger(),
    )
    svc = build_services(ctx)
    config = wandb_docs_config() | {"Environment": {"WANDB_PROJECT": "team-project"}}
    svc.queues.create(QueueCreate(name="sm", resource="sagemaker", config=config))
    run, _ = svc.runs.enqueue("sm", RunSpec(docker_image=IMAGE))
    # WHEN it is dispatched
    svc.dispatcher.dispatch("sm")
    # THEN the run's "submitted" event tells the user launchq's value was not used
    reasons = [event.reason for event in svc.runs.events(run.id)]
    assert any("WANDB_PROJECT set by" in reason and "not used" in reason for reason in reasons), reasons
