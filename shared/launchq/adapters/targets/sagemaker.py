"""The ``sagemaker`` target: each run is one SageMaker training job (``CreateTrainingJob``).

The queue config is W&B's: the ``CreateTrainingJob`` request body, normalised by
``sagemaker_config``. The job is named ``<run name slug or launchq>-<run id>`` unless the
config names it, and tagged ``launchq:run-id`` / ``launchq:queue`` so the EventBridge
"SageMaker Training Job State Change" event leads back to the run
(``sagemaker_state_change_run_id``).

Statuses: ``InProgress`` is ``running`` (``starting`` while SageMaker prepares instances),
``Stopping`` is still ``running``, ``Completed`` is ``finished``, ``Failed`` is ``failed``
with SageMaker's ``FailureReason``, and ``Stopped`` is ``stopped`` -- never ``finished``
(W&B reports a stopped job as finished). A job SageMaker does not know is ``lost``.

Logs come from CloudWatch Logs, group ``/aws/sagemaker/TrainingJobs``, streams
``<job name>/algo-<n>-<time>``; the offset counts log events already returned. Events of
several streams (multi-instance jobs) are merged by timestamp; an event that reaches
CloudWatch late for an earlier time than events already returned is not returned. Each
call reads the streams from their start (CloudWatch has no index by event number), at
most ``offset + 10000`` events per stream.

W&B's launcher keys ``region`` and ``profile`` send the job to another region or through
another AWS profile: the handle keeps them, and every later call for the run (status,
stop, logs) uses clients of that region and profile. The EventBridge rule of the AWS
stack sees only its own region, so a job elsewhere is followed by the reconciler's polls.
The handle's ``note`` lists launchq variables the user's ``Environment`` replaced (the
dispatcher adds it to the "submitted" event).

Errors: at submit, a request AWS refuses (validation, quota, access) is ``LaunchFailed``
with AWS's code and message; throttling, 5xx and connection errors are
``BackendUnavailable`` (the claim expires and the run is retried). A retried submit that
finds its own job (same name, same ``launchq:run-id`` tag) adopts it instead of failing.

Test gap: no local server implements ``StopTrainingJob`` (moto answers it with a server
error), so the stop request is pinned with the SDK's ``Stubber`` in the tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar

from launchq.adapters.aws_sdk import Translation, aws_call, codes
from launchq.adapters.targets.sagemaker_clients import SageMakerClients
from launchq.adapters.targets.sagemaker_config import (
    JOB_NAME,
    QUEUE_TAG,
    RESOURCE,
    RUN_ID_TAG,
    Submission,
    build_request,
    check_request,
    role_arn,
)
from launchq.domain.models import JsonObject, Run, RunSpec
from launchq.errors import (
    AlreadyExists,
    BackendUnavailable,
    Conflict,
    InvalidInput,
    LaunchFailed,
    LaunchqError,
    NotFound,
)
from launchq.ports import Target, TargetState, TargetStatus

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sts import STSClient

__all__ = [
    "LOG_GROUP",
    "QUEUE_TAG",
    "RUN_ID_TAG",
    "SageMakerTarget",
    "job_status",
    "sagemaker_state_change_run_id",
]

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
MAX_LOG_EVENTS = 10_000
_NOT_FOUND = re.compile(r"not found|could not find|does not exist", re.IGNORECASE)
_ENDED: dict[str, TargetState] = {
    "Completed": "finished",
    "Stopped": "stopped",  # never "finished": the job did not complete
    "Deleting": "lost",  # the record is going away; what the job did is no longer known
}
_STARTING = frozenset(
    {"Starting", "Pending", "LaunchingMLInstances", "PreparingTrainingStack", "DownloadingTrainingImage"}
)


def _missing_or(kind: Translation) -> Translation:
    """SageMaker answers ValidationException "Requested resource not found" for a job it does not know."""

    def translate(detail: str) -> LaunchqError:
        return NotFound(detail) if _NOT_FOUND.search(detail) else kind(detail)

    return translate


# A request the SDK refuses before sending is never retried: the run cannot be launched as given.
_UNSENDABLE = codes(LaunchFailed, "ParamValidationError")
_JOB_LOOKUP = _UNSENDABLE | codes(NotFound, "ResourceNotFound", "ResourceNotFoundException")
_DESCRIBE = _JOB_LOOKUP | {"ValidationException": _missing_or(BackendUnavailable)}
# SageMaker refuses (ValidationException) to stop a job that is not InProgress.
_STOP = _JOB_LOOKUP | {"ValidationException": _missing_or(Conflict)}
_CREATE = _UNSENDABLE | codes(AlreadyExists, "ResourceInUse")
_NO_LOGS = _UNSENDABLE | codes(NotFound, "ResourceNotFoundException")


def _launch_call(action: str, table: Mapping[str, Translation] = _UNSENDABLE) -> AbstractContextManager[None]:
    """At submit, a request AWS refuses is LaunchFailed; throttling, 5xx, no answer BackendUnavailable."""
    return aws_call(action, table, otherwise=LaunchFailed)


def job_status(job: Mapping[str, Any]) -> TargetStatus:
    """A DescribeTrainingJob answer as a TargetStatus."""
    status = str(job.get("TrainingJobStatus", ""))
    secondary = str(job.get("SecondaryStatus", ""))
    transitions = job.get("SecondaryStatusTransitions") or []
    last = transitions[-1] if transitions else {}
    message = str(last.get("StatusMessage", "")) if last.get("Status") == secondary else ""
    detail = f"{secondary}: {message}" if secondary and message else secondary or message
    if status == "InProgress":
        return TargetStatus(state="starting" if secondary in _STARTING else "running", detail=detail)
    if status == "Stopping":
        return TargetStatus(state="running", detail=f"stopping ({detail})" if detail else "stopping")
    if status == "Failed":
        return TargetStatus(state="failed", detail=str(job.get("FailureReason") or detail or "failed"))
    if status in _ENDED:
        return TargetStatus(state=_ENDED[status], detail=detail)
    return TargetStatus(state="running", detail=f"unrecognised SageMaker status {status!r}")


def sagemaker_state_change_run_id(detail: Mapping[str, Any]) -> str | None:
    """The ``launchq:run-id`` tag of a "SageMaker Training Job State Change" event's detail.

    EventBridge sends the job's ``Tags`` as a map; the list form of DescribeTrainingJob
    (``[{"Key": ..., "Value": ...}]``) is read as well. None when the tag is absent.
    """
    tags = detail.get("Tags")
    value: Any = None
    if isinstance(tags, Mapping):
        value = tags.get(RUN_ID_TAG)
    elif isinstance(tags, list):
        value = next(
            (tag.get("Value") for tag in tags if isinstance(tag, Mapping) and tag.get("Key") == RUN_ID_TAG),
            None,
        )
    return value if isinstance(value, str) and value else None


class SageMakerTarget(Target):
    """Runs jobs as SageMaker training jobs; clients are built on first use unless injected."""

    resource: ClassVar[str] = RESOURCE
    needs_image: ClassVar[bool] = True

    def __init__(
        self,
        client: SageMakerClient | None = None,
        *,
        account_id: str | None = None,
        logs_client: CloudWatchLogsClient | None = None,
        sts_client: STSClient | None = None,
    ) -> None:
        self.clients = SageMakerClients(client, logs=logs_client, sts=sts_client, account_id=account_id)

    @property
    def client(self) -> SageMakerClient:
        """The SageMaker client of the target's own region (built on first use unless injected)."""
        return self.clients.sagemaker()

    # -- Target -------------------------------------------------------------------------
    def validate(self, spec: RunSpec, resolved: JsonObject) -> None:
        check_request(spec, resolved)

    def submit(self, run: Run) -> dict[str, str]:
        try:
            prepared = build_request(
                run.spec, run.resolved, run_id=run.id, queue=run.queue, entity=run.entity
            )
            request, where = prepared.request, prepared.submission
            with _launch_call("STS GetCallerIdentity"):
                client = self.clients.sagemaker(where)
                role = request["RoleArn"]
                account = "" if role.startswith("arn:") else self.clients.account(where)
            request["RoleArn"] = role_arn(role, account, client.meta.partition)
        except InvalidInput as exc:
            raise LaunchFailed(str(exc)) from exc
        name = str(request["TrainingJobName"])
        if not JOB_NAME.match(name):
            raise LaunchFailed(f"resource_args.sagemaker.TrainingJobName: {name!r} is not a valid job name")
        handle = {"training_job_name": name, **where.handle()}
        if prepared.notes:
            handle["note"] = "; ".join(prepared.notes)
        try:
            with _launch_call("SageMaker CreateTrainingJob", _CREATE):
                answer = client.create_training_job(**request)
        except AlreadyExists as exc:
            return handle | self._adopt(run, name, exc, client)
        return handle | {"training_job_arn": answer["TrainingJobArn"]}

    def status(self, run: Run) -> TargetStatus:
        name = run.handle.get("training_job_name")
        if not name:
            return TargetStatus(state="lost", detail="the run has no SageMaker training job handle")
        job = self._describe(name, Submission.from_handle(run.handle))
        if job is None:
            return TargetStatus(state="lost", detail=f"SageMaker has no training job {name}")
        return job_status(job)

    def stop(self, run: Run) -> None:
        """StopTrainingJob; a job that is missing, stopping or already ended needs nothing more.

        Raises BackendUnavailable when SageMaker cannot be reached or refuses a running job.
        """
        name = run.handle.get("training_job_name")
        if not name:
            return
        where = Submission.from_handle(run.handle)
        try:
            with aws_call("SageMaker StopTrainingJob", _STOP):
                self.clients.sagemaker(where).stop_training_job(TrainingJobName=name)
        except NotFound:
            return
        except Conflict as refused:
            # Look before deciding, rather than trusting the wording of SageMaker's message.
            job = self._describe(name, where)
            if job is None or job.get("TrainingJobStatus") != "InProgress":
                return
            raise BackendUnavailable(refused.detail) from refused

    def logs(self, run: Run, offset: int = 0) -> tuple[str, int]:
        """Log lines from event ``offset`` on (each ending in a newline) and the next offset."""
        if offset < 0:
            raise InvalidInput("must be 0 or more", field="offset")
        name = run.handle.get("training_job_name")
        if not name:
            return "", offset
        try:
            with aws_call("CloudWatch Logs", _NO_LOGS):
                messages = self._log_messages(
                    self.clients.logs(Submission.from_handle(run.handle)), name, offset + MAX_LOG_EVENTS
                )
        except NotFound:
            return "", offset
        chunk = messages[offset : offset + MAX_LOG_EVENTS]
        text = "".join(line if line.endswith("\n") else line + "\n" for line in chunk)
        return text, offset + len(chunk)

    # -- helpers ------------------------------------------------------------------------
    def _describe(self, name: str, where: Submission) -> Mapping[str, Any] | None:
        """DescribeTrainingJob, or None when SageMaker does not know the job."""
        try:
            with aws_call("SageMaker DescribeTrainingJob", _DESCRIBE):
                return self.clients.sagemaker(where).describe_training_job(TrainingJobName=name)
        except NotFound:
            return None

    def _adopt(self, run: Run, name: str, exc: AlreadyExists, client: SageMakerClient) -> dict[str, str]:
        """A job of this name exists: ours from an earlier attempt (adopt it) or another's."""
        with _launch_call("SageMaker DescribeTrainingJob"):
            arn = client.describe_training_job(TrainingJobName=name)["TrainingJobArn"]
            tags = client.list_tags(ResourceArn=arn).get("Tags", [])
        if sagemaker_state_change_run_id({"Tags": tags}) == run.id:
            return {"training_job_name": name, "training_job_arn": arn}
        raise LaunchFailed(
            f"{exc.detail} (the job {name} belongs to "
            "another run; give each run its own TrainingJobName, e.g. with ${run_id})"
        ) from exc

    def _log_messages(self, logs: CloudWatchLogsClient, name: str, wanted: int) -> list[str]:
        """Messages of the job's streams, merged by timestamp; at most ``wanted`` per stream."""
        paginator = logs.get_paginator("describe_log_streams")
        streams = [
            stream["logStreamName"]
            for page in paginator.paginate(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/")
            for stream in page.get("logStreams", [])
            if "logStreamName" in stream
        ]
        events: list[tuple[int, int, int, str]] = []
        for index, stream in enumerate(sorted(streams)):
            for seq, (timestamp, message) in enumerate(self._stream_events(logs, stream, wanted)):
                events.append((timestamp, index, seq, message))
        events.sort()
        return [message for _, _, _, message in events]

    def _stream_events(self, logs: CloudWatchLogsClient, stream: str, wanted: int) -> list[tuple[int, str]]:
        events: list[tuple[int, str]] = []
        token: str | None = None
        while len(events) < wanted:
            kwargs: dict[str, Any] = {"nextToken": token} if token else {}
            page = logs.get_log_events(
                logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True, **kwargs
            )
            events += [
                (event.get("timestamp", 0), event.get("message", "")) for event in page.get("events", [])
            ]
            following = page.get("nextForwardToken")
            if not following or following == token:  # the same token back: the end of the stream
                break
            token = following
        return events
