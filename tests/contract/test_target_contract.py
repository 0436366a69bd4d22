"""The Target contract: one suite, run against every target adapter.

``local-process`` runs real processes under ``tmp_path``; ``sagemaker`` talks to a real
moto server, where training jobs are ``Completed`` at once. No local server implements
SageMaker's ``StopTrainingJob``, so for the stop test the sagemaker adapter's client is
put behind botocore's ``Stubber`` answering as SageMaker documents (accepted once, then
refused as no longer stoppable, the job described as ``Stopped`` with moto's recorded shape).
``kubernetes`` talks to the Kubernetes API stand-in (``tests/kube_stand_in.py``) through the
official client; its pods move only when driven (``advance``), as the fake's jobs do.
``vertex`` talks to the package's ``FakeJobService`` (no Vertex AI emulator exists), the SDK's
own ``JobServiceClient`` stand-in, whose jobs move only when driven, as the fake's do, and
whose Cloud Logging session stand-in serves the jobs' log entries.
``fake`` is the package's ``FakeTarget``, whose jobs move only when driven: the suite
drives it (``advance``) wherever it waits for a real job to move by itself.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import boto3
import pytest
from botocore.stub import Stubber

from launchq.adapters.targets.fake import FakeTarget
from launchq.adapters.targets.kubernetes import KubernetesTarget
from launchq.adapters.targets.local_process import LocalProcessTarget
from launchq.adapters.targets.sagemaker import SageMakerTarget
from launchq.adapters.targets.vertex import VertexTarget
from launchq.adapters.targets.vertex_fake import FakeJobService
from launchq.adapters.targets.vertex_logs import CloudLoggingReader
from launchq.domain.models import Run, RunSpec
from launchq.errors import InvalidInput
from launchq.ports import Target, TargetState, TargetStatus
from tests.kube_stand_in import KubeStandIn, client_factory

TERMINAL = {"finished", "failed", "stopped", "lost"}
StopGuard = Callable[[Run], contextlib.AbstractContextManager[None]]


@dataclass
class TargetUnderTest:
    target: Target
    config: dict[str, Any]  # a valid resolved config for this target
    spec: dict[str, Any]  # a RunSpec (as keywords) of a job that ends by itself, successfully
    long_spec: dict[str, Any]  # a RunSpec of a job that would run for a while
    stop_guard: StopGuard = field(default=lambda run: contextlib.nullcontext())
    # Lets time pass for a job that does not move by itself (the fake); real jobs need nothing.
    drive: Callable[[Run], object] = field(default=lambda run: None)
    # Whether the job's processes are gone, for a target that has processes to look at.
    processes_gone: Callable[[Run], bool] | None = None

    def run(self, **spec: Any) -> Run:
        now = datetime.now(UTC)
        return Run(
            id=uuid.uuid4().hex[:16],
            queue="q",
            entity="team",
            spec=RunSpec(**(spec or self.spec)),
            resolved=dict(self.config),
            created_at=now,
            updated_at=now,
        )

    def launch(self, run: Run) -> Run:
        self.target.validate(run.spec, run.resolved)
        return run.model_copy(update={"handle": self.target.submit(run)})

    def wait(self, run: Run, timeout: float = 15.0) -> TargetStatus:
        deadline = time.monotonic() + timeout
        while (status := self.target.status(run)).state not in TERMINAL and time.monotonic() < deadline:
            self.drive(run)
            time.sleep(0.05)
        return status


def _local_process(tmp_path: Path) -> Iterator[TargetUnderTest]:
    target = LocalProcessTarget(tmp_path / "data", grace_seconds=5.0)
    yield TargetUnderTest(
        target=target,
        config={},
        spec={"entry_point": [sys.executable, "-c", "print('hello')"]},
        long_spec={"entry_point": [sys.executable, "-c", "import time; time.sleep(30)"]},
        processes_gone=lambda run: not _group_alive(int(run.handle["pgid"])),
    )
    for proc in list(target._supervisors.values()):  # never leave a job behind
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _fake() -> TargetUnderTest:
    target = FakeTarget()
    spec = {"entry_point": ["train"]}
    return TargetUnderTest(target, {}, spec, spec, drive=target.advance)


def _sagemaker_stop_guard(target: SageMakerTarget) -> StopGuard:
    @contextlib.contextmanager
    def guard(run: Run) -> Iterator[None]:
        name = run.handle["training_job_name"]
        answer = dict(target.client.describe_training_job(TrainingJobName=name))  # recorded from moto
        answer.pop("ResponseMetadata")
        with Stubber(target.client) as stubber:
            stubber.add_response("stop_training_job", {}, {"TrainingJobName": name})
            stubber.add_client_error(
                "stop_training_job",
                service_error_code="ValidationException",
                service_message=f"The training job {name} is not in a stoppable state",
                expected_params={"TrainingJobName": name},
            )
            stopped = answer | {"TrainingJobStatus": "Stopped", "SecondaryStatus": "Stopped"}
            stubber.add_response("describe_training_job", stopped, {"TrainingJobName": name})
            stubber.add_response("describe_training_job", stopped, {"TrainingJobName": name})  # status
            yield
            stubber.assert_no_pending_responses()

    return guard


def _sagemaker() -> TargetUnderTest:
    target = SageMakerTarget(boto3.client("sagemaker"), logs_client=boto3.client("logs"))
    config = {
        "RoleArn": "arn:aws:iam::123456789012:role/LaunchqTrainingRole",
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "OutputDataConfig": {"S3OutputPath": "s3://launchq-artifacts/output"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    spec = {"docker_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1"}
    return TargetUnderTest(target, config, spec, spec, _sagemaker_stop_guard(target))


def _kubernetes() -> Iterator[TargetUnderTest]:
    with KubeStandIn() as api:
        spec = {"docker_image": "registry.example/team/train:1", "entry_point": ["python", "train.py"]}
        yield TargetUnderTest(
            KubernetesTarget(client_factory(api.url)),
            {},
            spec,
            spec,
            drive=lambda run: api.advance(run.id),
            processes_gone=lambda run: not api.pods(run.id),
        )


def _vertex() -> TargetUnderTest:
    jobs = FakeJobService()
    logs = CloudLoggingReader("launchq-test", session=jobs.logging_session())
    target = VertexTarget(
        "launchq-test", "us-central1", job_client=jobs, staging_bucket="gs://launchq-staging", logs=logs
    )
    config = {
        "spec": {
            "worker_pool_specs": [
                {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1, "container_spec": {}}
            ]
        },
        "run": {"restart_job_on_worker_restart": False},
    }
    spec = {"docker_image": "us-central1-docker.pkg.dev/launchq-test/train/train:1"}
    return TargetUnderTest(target, config, spec, spec, drive=lambda run: jobs.advance(run.handle["job_name"]))


@pytest.fixture(params=["local-process", "sagemaker", "fake", "kubernetes", "vertex"])
def under_test(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TargetUnderTest]:
    if request.param == "vertex":
        yield _vertex()
        return
    if request.param == "kubernetes":
        yield from _kubernetes()
        return
    if request.param == "fake":
        yield _fake()
        return
    if request.param == "sagemaker":
        request.getfixturevalue("aws_env")  # a real moto server, reset for this test
        yield _sagemaker()
        return
    yield from _local_process(tmp_path)


def test_validate_accepts_the_valid_config(under_test: TargetUnderTest) -> None:
    run = under_test.run()
    under_test.target.validate(run.spec, run.resolved)


def test_validate_refuses_an_unknown_config_key_naming_it(under_test: TargetUnderTest) -> None:
    run = under_test.run()
    with pytest.raises(InvalidInput) as caught:
        under_test.target.validate(run.spec, run.resolved | {"no_such_key": 1})
    assert caught.value.field == f"resource_args.{under_test.target.resource}.no_such_key"


def test_submit_returns_a_non_empty_handle_of_strings(under_test: TargetUnderTest) -> None:
    handle = under_test.launch(under_test.run()).handle
    assert handle
    assert all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in handle.items())


def test_status_is_a_target_state_and_a_finished_job_reports_finished(under_test: TargetUnderTest) -> None:
    launched = under_test.launch(under_test.run())
    assert under_test.target.status(launched).state in get_args(TargetState)
    assert under_test.wait(launched).state == "finished"


def test_a_submit_repeated_for_the_same_attempt_adopts_the_job_it_started(
    under_test: TargetUnderTest,
) -> None:
    # GIVEN a run submitted once, whose record of that was lost (a dispatcher killed between
    # the submit and its write): the run is claimed and submitted again, as it was
    run = under_test.run()
    first = under_test.launch(run)
    # WHEN it is submitted again at the same attempt
    again = under_test.launch(run)
    # THEN the second submit names the first job (adopted, not started twice), which ends
    assert again.handle == first.handle
    assert under_test.wait(again).state == "finished"


def test_a_run_without_a_handle_is_lost(under_test: TargetUnderTest) -> None:
    assert under_test.target.status(under_test.run()).state == "lost"


def test_stop_is_idempotent(under_test: TargetUnderTest) -> None:
    # GIVEN a launched job that would run for a while
    launched = under_test.launch(under_test.run(**under_test.long_spec))
    # WHEN it is stopped twice  THEN neither call raises
    with under_test.stop_guard(launched):
        under_test.target.stop(launched)
        under_test.target.stop(launched)
        # AND the job really stopped: the target reports it stopped, not finished or lost
        assert under_test.wait(launched).state == "stopped"
    # AND no process of the job is left (for a target that runs processes here)
    if under_test.processes_gone is not None:
        assert under_test.processes_gone(launched)
    # AND a run that never got a handle can be stopped too
    under_test.target.stop(under_test.run())


def test_logs_return_text_and_an_offset_that_never_goes_back(under_test: TargetUnderTest) -> None:
    launched = under_test.launch(under_test.run())
    under_test.wait(launched)
    text, following = under_test.target.logs(launched, 0)
    assert isinstance(text, str)
    assert isinstance(following, int)
    assert following >= 0
    again, after = under_test.target.logs(launched, following)
    assert isinstance(again, str)
    assert after >= following
    assert under_test.target.logs(under_test.run(), 5) == ("", 5)  # no job yet: nothing, same offset
