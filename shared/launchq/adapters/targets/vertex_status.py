"""A Vertex AI ``CustomJob``'s state as a ``TargetStatus``, and job names out of GCP events (pure).

Every ``google.cloud.aiplatform_v1.JobState`` has a meaning here (``STATES``, by number, so
this module imports no Google code):

- ``QUEUED``, ``PENDING``: ``starting`` (the reconciler's start timeout bounds the wait);
  ``UNSPECIFIED`` too -- Vertex AI has not said yet, which only happens while the job is made.
- ``RUNNING``: ``running``. ``CANCELLING`` is still ``running`` (detail "cancelling") until
  ``CANCELLED``, which is ``stopped`` -- never ``finished``.
- ``PAUSED`` and ``UPDATING`` are still ``running``, with the state as the detail: the job
  holds its resources and goes on from there (Vertex AI resumes or finishes the update);
  the run's ``run.timeout`` (``scheduling.timeout``) still ends it.
- ``SUCCEEDED``: ``finished``. ``FAILED``: ``failed`` with Vertex AI's error message.
- ``EXPIRED``: ``failed``, "expired" (the job waited past ``run.max_wait_duration`` for
  resources, or Vertex AI gave up on it) with Vertex AI's message.
- ``PARTIALLY_SUCCEEDED``: ``failed``: a job that did not wholly succeed is not reported as
  finished (``launchq runs logs -f && next-step`` must not go on).

A number outside the enum (a state newer than this code) is ``running`` with a detail that
names it; ``scheduling.timeout`` still ends the job.

Events: Vertex AI does not publish a custom job's state changes itself. What GCP offers is
Cloud Audit Logs for the job's API calls (Eventarc ``google.cloud.audit.log.v1.written``,
``serviceName`` ``aiplatform.googleapis.com``: ``CreateCustomJob``, ``CancelCustomJob``,
``DeleteCustomJob``, a cancel from the console included) and the job's own log entries in
Cloud Logging (``resource.type="ml_job"``, label ``job_id``; a log sink can route them to
Pub/Sub, Vertex AI's own messages about the job among them).
``job_id_of_event`` reads the job's id out of either; the event is a hint
that the run's status is worth reading now, never news: the run is settled from
``VertexTarget.status``, and the reconciler's polls stay the safety net.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from launchq.ports import TargetState, TargetStatus

__all__ = ["STATES", "job_id_of_event", "job_status"]

#: JobState number -> (its name, what launchq reports, the detail when Vertex AI gives no error).
STATES: dict[int, tuple[str, TargetState, str]] = {
    0: ("JOB_STATE_UNSPECIFIED", "starting", "Vertex AI reports no state yet"),
    1: ("JOB_STATE_QUEUED", "starting", "queued by Vertex AI"),
    2: ("JOB_STATE_PENDING", "starting", "Vertex AI is provisioning the job's machines"),
    3: ("JOB_STATE_RUNNING", "running", ""),
    4: ("JOB_STATE_SUCCEEDED", "finished", ""),
    5: ("JOB_STATE_FAILED", "failed", "failed"),
    6: ("JOB_STATE_CANCELLING", "running", "cancelling"),
    7: ("JOB_STATE_CANCELLED", "stopped", "cancelled"),
    8: ("JOB_STATE_PAUSED", "running", "paused by Vertex AI; the job resumes where it was"),
    9: ("JOB_STATE_EXPIRED", "failed", "expired"),
    10: ("JOB_STATE_UPDATING", "running", "Vertex AI is updating the job"),
    11: ("JOB_STATE_PARTIALLY_SUCCEEDED", "failed", "partially succeeded: not every part of the job did"),
}
_WITH_ERROR = frozenset({5, 9, 11})
_JOB_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/customJobs/(\d+)")


def job_status(state: int, error_message: str = "") -> TargetStatus:
    """A job's ``state`` (a ``JobState`` or its number) and ``error.message`` as a TargetStatus."""
    number = int(state)
    known = STATES.get(number)
    if known is None:
        return TargetStatus(state="running", detail=f"unrecognised Vertex AI job state {number}")
    name, reported, detail = known
    if number in _WITH_ERROR and error_message:
        detail = f"{detail}: {error_message}" if number != 5 else error_message
    return TargetStatus(state=reported, detail=detail or name.removeprefix("JOB_STATE_").lower())


def job_id_of_event(event: Mapping[str, Any]) -> str | None:
    """The id of the custom job a log entry is about (``.../customJobs/<id>``), or None.

    Reads a Cloud Audit Log entry (``protoPayload.resourceName``, as Eventarc delivers it)
    and a job's own Cloud Logging entry (``resource.type`` ``ml_job``, label ``job_id``),
    the forms a log sink routes to Pub/Sub. ``VertexTarget.run_id_of_job`` names its run.
    """
    payload = event.get("protoPayload")
    if isinstance(payload, Mapping):
        if payload.get("serviceName") != "aiplatform.googleapis.com":
            return None
        found = _JOB_NAME.search(str(payload.get("resourceName", "")))
        return found.group(1) if found else None
    resource = event.get("resource")
    if not isinstance(resource, Mapping) or resource.get("type") != "ml_job":
        return None
    job_id = str((resource.get("labels") or {}).get("job_id", ""))
    return job_id if job_id.isdigit() else None
