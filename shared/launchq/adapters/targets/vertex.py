"""The ``vertex`` target: each run is one Vertex AI custom job (``CreateCustomJob``).

The queue config is W&B's ``resource_args.vertex`` (``spec`` + ``run``), read by
``vertex_spec``; the job goes to ``projects/<project>/locations/<location>`` through
``google.cloud.aiplatform_v1.JobServiceClient`` on ``<location>-aiplatform.googleapis.com``
(built on first use, so nothing Google is imported until a Vertex AI run is handled).

Vertex AI picks a job's id itself, so a submit cannot be made idempotent by name as on
SageMaker. Instead each job gets a run-derived ``display_name`` and labels
(``launchq-run-id``, ``launchq-attempt``), and a submit first lists the jobs of that display
name (``ListCustomJobs`` with a filter): a job of this run and attempt -- created by a submit
whose record was lost with a crashed dispatcher -- is adopted, never created twice. (Claims
are atomic, so two dispatchers never submit one attempt at once.)

Statuses: see ``vertex_status`` (every ``JobState`` mapped; ``CANCELLED`` is ``stopped``,
``EXPIRED`` ``failed`` with the reason). A job Vertex AI does not know is ``lost``. Stop is
``CancelCustomJob``; a job missing or already ending needs nothing more. State changes reach
launchq as events where GCP offers them (Cloud Audit Logs and the job's log entries through
Eventarc or a log sink, see ``vertex_status.job_id_of_event`` and ``run_id_of_job``); the
reconciler's polls of ``status`` are the fallback and the safety net.

Logs: Vertex AI writes a job's output to Cloud Logging (``resource.type="ml_job"``); ``logs``
reads it there (``vertex_logs``: every replica's lines merged by time, the offset counting
entries).

Errors go through launchq's one Google SDK edge (``launchq.gcp.errors.gcp_call``): at submit,
a request Vertex AI refuses (invalid argument, permission, quota exceeded for good) is
LaunchFailed with Google's words; unavailability, deadlines and missing credentials are
BackendUnavailable (the claim expires and the run is retried, and adopted if it got through).
"""

from __future__ import annotations

from typing import Any, ClassVar

from launchq.adapters.targets.vertex_logs import CloudLoggingReader
from launchq.adapters.targets.vertex_spec import (
    ATTEMPT_LABEL,
    RESOURCE,
    RUN_ID_LABEL,
    build_job,
    check_with_sdk,
    display_name,
    label_value,
)
from launchq.adapters.targets.vertex_status import job_status
from launchq.domain.models import JsonObject, Run, RunSpec
from launchq.errors import BackendUnavailable, Conflict, InvalidInput, LaunchFailed, NotFound
from launchq.gcp.errors import codes, gcp_call, import_sdk
from launchq.ports import Target, TargetStatus

__all__ = ["DEFAULT_TIMEOUT", "VertexTarget"]

DEFAULT_TIMEOUT = 60.0
# States from which CancelCustomJob still has something to cancel.
_LIVE_STATES = frozenset({0, 1, 2, 3, 8, 10})
_LOOKUP = codes(NotFound, "NotFound")
# Vertex AI answers FAILED_PRECONDITION to a cancel of a job that is no longer running: over
# gRPC FailedPrecondition, over REST its HTTP 400, BadRequest (stop looks before deciding).
_CANCEL = _LOOKUP | codes(Conflict, "FailedPrecondition", "BadRequest")


class VertexTarget(Target):
    """Runs jobs as Vertex AI custom jobs in one project and location."""

    resource: ClassVar[str] = RESOURCE
    needs_image: ClassVar[bool] = True

    def __init__(
        self,
        project: str,
        location: str,
        *,
        job_client: Any | None = None,
        staging_bucket: str | None = None,
        logs: CloudLoggingReader | None = None,
    ) -> None:
        if not project or not location:
            raise ValueError("a Vertex AI target needs a project and a location")
        self.project = project
        self.location = location
        self.staging_bucket = staging_bucket
        self._client = job_client
        self.log_reader = logs or CloudLoggingReader(project)

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    @property
    def client(self) -> Any:
        """The JobServiceClient, built on first use. Raises BackendUnavailable (no SDK, no credentials)."""
        if self._client is None:
            aiplatform = import_sdk("google.cloud.aiplatform_v1", "google-cloud-aiplatform")
            with gcp_call("building the Vertex AI client"):
                self._client = aiplatform.JobServiceClient(
                    client_options={"api_endpoint": f"{self.location}-aiplatform.googleapis.com"}
                )
        return self._client

    # -- Target -------------------------------------------------------------------------
    def validate(self, spec: RunSpec, resolved: JsonObject) -> None:
        prepared = build_job(
            spec,
            resolved,
            run_id="0" * 16,
            queue="queue",
            entity="entity",
            staging_bucket=self.staging_bucket,
        )
        check_with_sdk(prepared.job)  # a macro stays text until submit, where all is checked again

    def submit(self, run: Run) -> dict[str, str]:
        try:
            prepared = build_job(
                run.spec,
                run.resolved,
                run_id=run.id,
                queue=run.queue,
                entity=run.entity,
                attempt=run.preemptions,
                staging_bucket=self.staging_bucket,
            )
            check_with_sdk(prepared.job)
        except InvalidInput as exc:
            raise LaunchFailed(str(exc)) from exc
        handle = {"display_name": prepared.job["display_name"], "attempt": str(run.preemptions)}
        if prepared.notes:
            handle["note"] = "; ".join(prepared.notes)
        adopted = self._earlier_job(run)
        if adopted is not None:
            return handle | {"job_name": adopted}
        with gcp_call(f"Vertex AI CreateCustomJob in {self.parent}", otherwise=LaunchFailed):
            job = self.client.create_custom_job(
                request={"parent": self.parent, "custom_job": prepared.job},
                timeout=prepared.request_timeout or DEFAULT_TIMEOUT,
            )
        return handle | {"job_name": str(job.name)}

    def status(self, run: Run) -> TargetStatus:
        name = run.handle.get("job_name")
        if not name:
            return TargetStatus(state="lost", detail="the run has no Vertex AI job handle")
        job = self._get(name)
        if job is None:
            return TargetStatus(state="lost", detail=f"Vertex AI has no custom job {name}")
        return job_status(job.state, str(job.error.message or ""))

    def stop(self, run: Run) -> None:
        """CancelCustomJob; a job that is missing, cancelling or already ended needs nothing more.

        Raises BackendUnavailable when Vertex AI cannot be reached or refuses a live job.
        """
        name = run.handle.get("job_name")
        if not name:
            return
        try:
            with gcp_call(f"Vertex AI CancelCustomJob {name}", _CANCEL):
                self.client.cancel_custom_job(request={"name": name}, timeout=DEFAULT_TIMEOUT)
        except NotFound:
            return
        except Conflict as refused:
            # Look before deciding, rather than trusting the wording of Vertex AI's message.
            job = self._get(name)
            if job is None or int(job.state) not in _LIVE_STATES:
                return
            raise BackendUnavailable(refused.detail) from refused

    def logs(self, run: Run, offset: int = 0) -> tuple[str, int]:
        """Log lines from entry ``offset`` on (each ending in a newline) and the next offset."""
        if offset < 0:
            raise InvalidInput("must be 0 or more", field="offset")
        name = run.handle.get("job_name")
        if not name:
            return "", offset
        return self.log_reader.read(name.rsplit("/", 1)[-1], offset)

    # -- events ---------------------------------------------------------------------------
    def run_id_of_job(self, job_id: str) -> str | None:
        """The run a custom job of this project and location belongs to (its ``launchq-run-id``
        label), for a job id read from an event (``vertex_status.job_id_of_event``); None for a
        job launchq did not start or no longer known. Raises BackendUnavailable."""
        job = self._get(f"{self.parent}/customJobs/{job_id}")
        if job is None:
            return None
        return dict(job.labels).get(RUN_ID_LABEL) or None

    # -- helpers ------------------------------------------------------------------------
    def _get(self, name: str) -> Any | None:
        """GetCustomJob, or None when Vertex AI does not know the job."""
        try:
            with gcp_call(f"Vertex AI GetCustomJob {name}", _LOOKUP):
                return self.client.get_custom_job(request={"name": name}, timeout=DEFAULT_TIMEOUT)
        except NotFound:
            return None

    def _earlier_job(self, run: Run) -> str | None:
        """The job an earlier submit of this run's attempt created, if any (its resource name).

        A job of the display name with other labels is not this attempt's (a user's own job
        of that name): it is left alone and a new one is created.
        """
        wanted = display_name(run.spec, run.id, run.preemptions)
        ours = {RUN_ID_LABEL: label_value(run.id), ATTEMPT_LABEL: str(run.preemptions)}
        request = {"parent": self.parent, "filter": f'display_name="{wanted}"'}
        with gcp_call(f"Vertex AI ListCustomJobs in {self.parent}", otherwise=LaunchFailed):
            for job in self.client.list_custom_jobs(request=request, timeout=DEFAULT_TIMEOUT):
                labels = dict(job.labels)
                if all(labels.get(key) == value for key, value in ours.items()):
                    return str(job.name)
        return None
