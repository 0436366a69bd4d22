"""The agent routes (tag ``agents``): what ``launchq agent --url`` calls on the control plane.

Included into the same resolvers as every other route (``launchq.api.app``), so Lambda and
the local server serve them alike, under the same auth, OpenAPI document and error table. The rules
(conditional and idempotent reports, the log merge) are the service's:
``launchq.service.agents``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import Router

from launchq.api.agent_views import (
    AgentRunDetail,
    AgentRunList,
    Claimed,
    ClaimRequest,
    LeaseRenewed,
    LeaseRequest,
    LogShipment,
    LogShipped,
    Moved,
    MoveRequest,
    WaitRequest,
    WorkReady,
)
from launchq.api.responses import WITH_BODY, documented
from launchq.api.routes import _json as json_response
from launchq.bootstrap import Services
from launchq.domain.states import RunState

TAGS = ["agents"]
NOT_FOUND, CONFLICT = HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT


def build_agent_router(services: Services) -> Router:
    """The agent routes, over ``services.agents``."""
    router, agents = Router(), services.agents

    @router.post(
        "/agents/claim",
        tags=TAGS,
        responses=documented(HTTPStatus.OK, Claimed, NOT_FOUND, CONFLICT, *WITH_BODY),
    )
    def claim(body: ClaimRequest) -> Response[Any]:
        return json_response(Claimed(run=agents.claim(body.agent, body.queue, body.lease_seconds)))

    @router.post(
        "/agents/wait", tags=TAGS, responses=documented(HTTPStatus.OK, WorkReady, NOT_FOUND, *WITH_BODY)
    )
    def wait(body: WaitRequest) -> Response[Any]:
        found, long_poll = agents.wait(body.queues, body.wait_seconds)
        return json_response(WorkReady(queues=found, long_poll=long_poll))

    @router.get("/agents/runs", tags=TAGS, responses=documented(HTTPStatus.OK, AgentRunList, NOT_FOUND))
    def list_runs(
        queue: Annotated[str, Query()],
        state: Annotated[list[RunState] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> Response[Any]:
        return json_response(AgentRunList(runs=agents.runs(queue, state, limit)))

    @router.get(
        "/agents/runs/<run_id>", tags=TAGS, responses=documented(HTTPStatus.OK, AgentRunDetail, NOT_FOUND)
    )
    def get_run(run_id: str) -> Response[Any]:
        run, events = agents.run(run_id)
        return json_response(AgentRunDetail(run=run, events=events))

    @router.post(
        "/agents/runs/<run_id>/move",
        tags=TAGS,
        responses=documented(HTTPStatus.OK, Moved, NOT_FOUND, CONFLICT, *WITH_BODY),
    )
    def move(run_id: str, body: MoveRequest) -> Response[Any]:
        states = (body.from_state, body.to_state)
        run, replayed = agents.move(body.agent, run_id, body.version, states, body.reason, body.update)
        return json_response(Moved(run=run, replayed=replayed))

    @router.post(
        "/agents/runs/<run_id>/lease",
        tags=TAGS,
        responses=documented(HTTPStatus.OK, LeaseRenewed, NOT_FOUND, CONFLICT, *WITH_BODY),
    )
    def renew_lease(run_id: str, body: LeaseRequest) -> Response[Any]:
        return json_response(
            LeaseRenewed(run=agents.renew(body.agent, run_id, body.version, body.lease_seconds))
        )

    @router.post(
        "/agents/runs/<run_id>/logs",
        tags=TAGS,
        responses=documented(HTTPStatus.OK, LogShipped, NOT_FOUND, CONFLICT, *WITH_BODY),
    )
    def ship_log(run_id: str, body: LogShipment) -> Response[Any]:
        return json_response(LogShipped(end=agents.ship_log(body.agent, run_id, body.offset, body.text)))

    return router
