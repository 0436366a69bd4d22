"""The HTTP API, defined once on a Powertools ``Router``.

The same router is included into the Lambda resolver (API Gateway HTTP API) and, in local
mode, into the same resolver fed by ``launchq.local.asgi`` under uvicorn (``launchq.api.app``).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.event_handler.router import Router
from pydantic import BaseModel

from launchq import __version__
from launchq.api.auth import caller_of
from launchq.api.responses import WITH_BODY, documented, link
from launchq.api.views import (
    CodeUpload,
    CodeUploaded,
    LogChunk,
    QueueList,
    QueueStop,
    QueueStopped,
    QueueView,
    RunCreated,
    RunList,
    RunView,
    ScheduleList,
    ScheduleView,
)
from launchq.bootstrap import Services
from launchq.domain.models import Queue, RunSpec, ScheduleSpec
from launchq.domain.states import RunState
from launchq.redaction import redact_json
from launchq.service.queues import QueueCreate, QueuePatch
from launchq.service.runs import LogSource
from launchq.service.waiting import WaitingService

NOT_FOUND = HTTPStatus.NOT_FOUND
_QUEUE = {"name": "$response.body#/name"}
QUEUE_LINKS = {
    "GetQueue": link("/queues/{name}", "get", **_QUEUE),
    "PatchQueue": link("/queues/{name}", "patch", **_QUEUE),
    "EnqueueRun": link("/queues/{name}/runs", "post", **_QUEUE),
    "StopQueueRuns": link("/queues/{name}/stop", "post", **_QUEUE),
    "ListQueueRuns": link("/runs", "get", queue="$response.body#/name"),
    "DeleteQueue": link("/queues/{name}", "delete", **_QUEUE),
}
_RUN = {"run_id": "$response.body#/id"}
RUN_LINKS = {
    "GetRun": link("/runs/{run_id}", "get", **_RUN),
    "GetRunLogs": link("/runs/{run_id}/logs", "get", **_RUN),
    "StopRun": link("/runs/{run_id}/stop", "post", **_RUN),
    "ReplayRun": link("/runs/{run_id}/replay", "post", **_RUN),
}


def _json(model: BaseModel | dict[str, Any], status: HTTPStatus = HTTPStatus.OK) -> Response[Any]:
    body = model.model_dump(mode="json") if isinstance(model, BaseModel) else model
    body = redact_json(body)  # every body the API sends: no known secret value in it
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _no_content() -> Response[Any]:
    return Response(status_code=HTTPStatus.NO_CONTENT, body="")


def build_router(services: Services) -> Router:  # noqa: C901 - one flat table of routes
    router = Router()
    waiting = WaitingService(services.ctx)

    def queue_view(queue: Queue) -> QueueView:
        active, queued = services.queues.counts(queue.name)
        return QueueView(**queue.model_dump(), active=active, queued=queued)

    def run_view(run_id: str, with_events: bool = True) -> RunView:
        run = services.runs.get(run_id)
        events = services.runs.events(run_id)
        return RunView.of(
            run, services.runs.position(run), events if with_events else None, waiting.of_run(run, events)
        )

    @router.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    # -- queues ---------------------------------------------------------------------------
    @router.post(
        "/queues",
        tags=["queues"],
        responses=documented(
            HTTPStatus.CREATED, QueueView, HTTPStatus.CONFLICT, *WITH_BODY, links=QUEUE_LINKS
        ),
    )
    def create_queue(body: QueueCreate) -> Response[Any]:
        return _json(queue_view(services.queues.create(body)), HTTPStatus.CREATED)

    @router.get("/queues", tags=["queues"], responses=documented(HTTPStatus.OK, QueueList))
    def list_queues() -> Response[Any]:
        return _json(QueueList(queues=[queue_view(q) for q in services.queues.all()]))

    @router.get("/queues/<name>", tags=["queues"], responses=documented(HTTPStatus.OK, QueueView, NOT_FOUND))
    def get_queue(name: str) -> Response[Any]:
        return _json(queue_view(services.queues.get(name)))

    @router.patch(
        "/queues/<name>",
        tags=["queues"],
        responses=documented(HTTPStatus.OK, QueueView, NOT_FOUND, HTTPStatus.CONFLICT, *WITH_BODY),
    )
    def patch_queue(name: str, body: QueuePatch) -> Response[Any]:
        return _json(queue_view(services.queues.patch(name, body)))

    @router.delete(
        "/queues/<name>",
        tags=["queues"],
        responses=documented(HTTPStatus.NO_CONTENT, None, NOT_FOUND, HTTPStatus.CONFLICT),
    )
    def delete_queue(
        name: str,
        force: Annotated[
            bool,
            Query(description="stop the queue's runs first; 409 while some are still stopping"),
        ] = False,
    ) -> Response[Any]:
        services.queues.delete(name, stop_first=services.runs if force else None)
        return _no_content()

    @router.post(
        "/queues/<name>/stop",
        tags=["queues"],
        responses=documented(HTTPStatus.OK, QueueStopped, NOT_FOUND, HTTPStatus.CONFLICT, *WITH_BODY),
    )
    def stop_queue_runs(name: str, body: QueueStop | None = None) -> Response[Any]:
        stopped = services.runs.stop_queue(name, (body or QueueStop()).run_states())
        return _json(QueueStopped(queue=name, stopped=stopped, count=len(stopped)))

    # -- runs -----------------------------------------------------------------------------
    @router.post(
        "/queues/<name>/runs",
        tags=["runs"],
        responses=documented(
            HTTPStatus.CREATED,
            RunCreated,
            NOT_FOUND,
            HTTPStatus.CONFLICT,
            *WITH_BODY,
            links=RUN_LINKS,
            also=[HTTPStatus.OK],
        ),
    )
    def enqueue(
        name: str,
        body: RunSpec,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> Response[Any]:
        run, created = services.runs.enqueue(name, body, idempotency_key)
        view = RunCreated(
            id=run.id,
            queue=run.queue,
            state=run.state,
            priority=run.priority,
            position=services.runs.position(run),
        )
        return _json(view, HTTPStatus.CREATED if created else HTTPStatus.OK)

    @router.get("/runs", tags=["runs"], responses=documented(HTTPStatus.OK, RunList, NOT_FOUND))
    def list_runs(
        queue: Annotated[str | None, Query()] = None,
        state: Annotated[RunState | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> Response[Any]:
        runs = services.runs.find(queue=queue, state=state, limit=limit, entity=caller_of(router).entity)
        places, outlooks = services.runs.positions(runs), waiting.of_page(runs)
        views = [RunView.of(run, places.get(run.id), outlook=outlooks.get(run.id)) for run in runs]
        return _json(RunList(runs=views))

    @router.get("/runs/<run_id>", tags=["runs"], responses=documented(HTTPStatus.OK, RunView, NOT_FOUND))
    def get_run(run_id: str) -> Response[Any]:
        return _json(run_view(run_id))

    @router.get(
        "/runs/<run_id>/logs", tags=["runs"], responses=documented(HTTPStatus.OK, LogChunk, NOT_FOUND)
    )
    def get_logs(
        run_id: str,
        offset: Annotated[int, Query(ge=0)] = 0,
        source: Annotated[LogSource, Query(description="the job's output, or the image build's log")] = "job",
    ) -> Response[Any]:
        run, text, next_offset = services.runs.logs(run_id, offset, source)
        return _json(
            LogChunk(run_id=run.id, state=run.state, text=text, offset=offset, next_offset=next_offset)
        )

    @router.post(
        "/runs/<run_id>/stop",
        tags=["runs"],
        responses=documented(HTTPStatus.ACCEPTED, RunView, NOT_FOUND, HTTPStatus.CONFLICT),
    )
    def stop_run(run_id: str) -> Response[Any]:
        services.runs.stop(run_id)
        return _json(run_view(run_id), HTTPStatus.ACCEPTED)

    @router.post(
        "/runs/<run_id>/replay",
        tags=["runs"],
        responses=documented(HTTPStatus.OK, RunView, NOT_FOUND, HTTPStatus.CONFLICT),
    )
    def replay_run(run_id: str) -> Response[Any]:
        """The run as the replay left it (queued; a dispatcher may have claimed it since)."""
        run = services.runs.replay(run_id)
        events = services.runs.events(run_id)
        return _json(RunView.of(run, services.runs.position(run), events, waiting.of_run(run, events)))

    # -- code uploads ---------------------------------------------------------------------
    @router.post("/code", tags=["code"], responses=documented(HTTPStatus.CREATED, CodeUploaded, *WITH_BODY))
    def upload_code(body: CodeUpload) -> Response[Any]:
        return _json(CodeUploaded(uri=services.code.upload(body.data)), HTTPStatus.CREATED)

    # -- schedules ------------------------------------------------------------------------
    @router.post(
        "/schedules",
        tags=["schedules"],
        responses=documented(
            HTTPStatus.CREATED,
            ScheduleView,
            NOT_FOUND,
            HTTPStatus.CONFLICT,
            *WITH_BODY,
            links={"DeleteSchedule": link("/schedules/{name}", "delete", name="$response.body#/name")},
        ),
    )
    def create_schedule(body: ScheduleSpec) -> Response[Any]:
        schedule = services.schedules.create(body)
        return _json(ScheduleView(**schedule.model_dump()), HTTPStatus.CREATED)

    @router.get("/schedules", tags=["schedules"], responses=documented(HTTPStatus.OK, ScheduleList))
    def list_schedules() -> Response[Any]:
        items = [ScheduleView(**s.model_dump()) for s in services.schedules.all()]
        return _json(ScheduleList(schedules=items))

    @router.delete(
        "/schedules/<name>", tags=["schedules"], responses=documented(HTTPStatus.NO_CONTENT, None, NOT_FOUND)
    )
    def delete_schedule(name: str) -> Response[Any]:
        services.schedules.delete(name)
        return _no_content()

    return router
