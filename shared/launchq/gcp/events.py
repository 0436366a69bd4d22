"""What the Google Cloud event functions do: a doorbell ring dispatches, a scheduler tick
reconciles, a Vertex AI job's log entry reconciles that job's run.

Pub/Sub hands a function each message as a CloudEvent (``google.cloud.pubsub.topic.v1.
messagePublished``) whose data is ``{"message": {"data": <base64>, "messageId", ...},
"subscription"}``. The doorbell's message data is the SQS doorbell's body (``{"queue": q}``),
so both clouds' dispatchers read a ring with the same parser and run the same step
(``Dispatcher.dispatch``), as ``functions/aws/dispatcher.py`` does for an SQS record.

A ring that is not a doorbell message raises InvalidInput: the function fails, Pub/Sub
redelivers it and, after the subscription's ``max_delivery_attempts``, moves it to the
dead-letter topic, where it can be read -- as SQS's redrive does with a bad record. A
repeated ring is harmless: the store decides what runs.

Vertex AI job state changes (``target_event``) come the way GCP offers them: Vertex AI
publishes no state-change events of its own (no Eventarc event type, no notification
topic); its Cloud Audit Logs cover only the API calls (``customJobs.create``, ``.cancel``,
``.delete`` -- a cancel from the console among them), never the job's own end. What marks
an end is Vertex AI's own messages about the job ("Job completed successfully.", "Job
failed.", ...), which it writes to Cloud Logging as entries of resource type ``ml_job``
(label ``job_id``) in the log ``ml.googleapis.com%2F<job id>``, beside the replicas' output
(logs ``workerpool<i>-<j>``); that log name comes from public examples, not from a live
project here -- were it other, only the sink's filter would change, since the parser reads
``resource.type`` and ``job_id``. ``infra/gcp`` routes the first kind and the audit entries,
not the replicas' lines, through a log sink to a Pub/Sub topic; its push subscription hands
each to the ``target_events`` function as a ``messagePublished`` CloudEvent whose message
data is the LogEntry as JSON. ``vertex_status.job_id_of_event`` reads the job's id out of
either form, ``VertexTarget.run_id_of_job`` its run (the job's ``launchq-run-id`` label),
and ``StateChangeService.on_job_state_change`` reconciles that one run at once -- as the AWS
events function does for a SageMaker state change: the job is asked again, the run moved,
its slot freed and the doorbell rung. The entry is a hint, never news.

An entry that names no Vertex AI custom job, a job launchq did not start, or a run this
deployment does not hold is logged and acknowledged, and so is a message that is no log
entry at all: it would never become one, and a retry would only repeat it. A backend error
(Firestore, Vertex AI) fails the invocation, so Pub/Sub redelivers the entry; the
subscription keeps entries ten minutes, after which the reconciler's minute poll has long
settled the run anyway.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from pydantic import Base64Bytes, BaseModel, ConfigDict, ValidationError

from launchq.adapters.doorbells.pubsub import queue_of
from launchq.adapters.targets.vertex_status import job_id_of_event
from launchq.bootstrap import Services
from launchq.domain.models import Run
from launchq.domain.states import RunState
from launchq.errors import InvalidInput, NotFound
from launchq.validation import problems

__all__ = ["dispatch_ring", "reconcile", "ring_queue", "target_event", "vertex_job_of"]

log = logging.getLogger(__name__)


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    data: Base64Bytes
    messageId: str | None = None


class _Push(BaseModel):
    """A Pub/Sub message as a CloudEvent carries it; other keys (subscription, ...) are ignored."""

    model_config = ConfigDict(extra="ignore")

    message: _Message


def _message_data(data: Mapping[str, Any] | None, field: str) -> bytes:
    """The decoded data of a Pub/Sub CloudEvent's message. Raises InvalidInput naming ``field``."""
    try:
        push = _Push.model_validate(data or {})
    except ValidationError as exc:
        where, why = problems(exc, whole="data")[0]
        raise InvalidInput(f"not a Pub/Sub message ({where}: {why})", field=field) from None
    return push.message.data


def ring_queue(data: Mapping[str, Any] | None) -> str:
    """The queue a Pub/Sub CloudEvent's doorbell message names. Raises InvalidInput otherwise."""
    return queue_of(_message_data(data, "doorbell"))


def vertex_job_of(data: Mapping[str, Any] | None) -> str | None:
    """The id of the Vertex AI custom job a log sink's Pub/Sub message is about, or None when
    the entry is about something else. Raises InvalidInput when the message carries no log
    entry (not a Pub/Sub message, not JSON, not an object)."""
    raw = _message_data(data, "event")
    try:
        entry = json.loads(raw)
    except ValueError:  # UnicodeDecodeError is one too
        raise InvalidInput("the message data is not a JSON log entry", field="event") from None
    if not isinstance(entry, dict):
        raise InvalidInput(f"the log entry is a JSON {type(entry).__name__}, not an object", field="event")
    return job_id_of_event(entry)


def target_event(services: Services, data: Mapping[str, Any] | None) -> Run | None:
    """Reconcile the run whose Vertex AI job a routed log entry is about; the run as it is
    now, or None when the entry leads to no run of this deployment (logged, acknowledged).

    Raises BackendUnavailable (Firestore or Vertex AI), so that Pub/Sub redelivers."""
    try:
        job_id = vertex_job_of(data)
    except InvalidInput as exc:
        log.warning("ignored a target event that is no log entry: %s", exc.detail)
        return None
    if job_id is None:
        log.info("ignored a log entry about no Vertex AI custom job")
        return None
    # Imported here, not with the module: the API function, which loads this module, needs none of it.
    from launchq.adapters.targets.vertex import VertexTarget

    try:
        target = services.ctx.targets.get(VertexTarget.resource)
    except InvalidInput:
        target = None
    if not isinstance(target, VertexTarget):
        log.warning("ignored custom job %s: this deployment offers no vertex target", job_id)
        return None
    run_id = target.run_id_of_job(job_id)
    if run_id is None:
        log.info("ignored custom job %s: not a job launchq started (or Vertex AI no longer knows it)", job_id)
        return None
    try:
        run = services.state_changes.on_job_state_change(run_id)
    except NotFound:
        log.warning("ignored custom job %s: its run %s is not in this deployment", job_id, run_id)
        return None
    log.info("custom job %s changed: run %s is %s", job_id, run.id, run.state.value)
    return run


def dispatch_ring(services: Services, data: Mapping[str, Any] | None) -> list[Run]:
    """Claim and launch what the rung queue may run now; the runs launched (or dead-lettered)."""
    queue = ring_queue(data)
    launched = services.dispatcher.dispatch(queue)
    dead = sum(1 for run in launched if run.state == RunState.DEAD_LETTER)
    log.info(
        "dispatched queue %s: %d launched, %d dead-lettered (%s)",
        queue,
        len(launched) - dead,
        dead,
        ", ".join(f"{run.id}={run.state.value}" for run in launched) or "nothing to claim",
    )
    return launched


def reconcile(services: Services) -> None:
    """One reconciler tick (stale claims, polling, starts that never came, cron schedules).

    The Cloud Scheduler message carries nothing the tick needs, so it is not read."""
    services.reconciler.tick()
