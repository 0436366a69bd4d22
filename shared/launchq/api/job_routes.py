"""The launch job routes (tag ``jobs``): W&B's ``wandb job create/list/describe`` over HTTP.

Included into the same resolvers as every other route (``launchq.api.app``). A run is
launched from a job through the ordinary enqueue route, with ``job`` in its body.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import Router

from launchq.api.job_views import JobList, JobView
from launchq.api.responses import WITH_BODY, documented, link
from launchq.api.routes import _json as json_response
from launchq.bootstrap import Services
from launchq.domain.jobs import JobSpec

TAGS = ["jobs"]
JOB_LINKS = {
    "GetJob": link("/jobs/{name}", "get", name="$response.body#/name"),
    "GetJobVersion": link(
        "/jobs/{name}/versions/{version}",
        "get",
        name="$response.body#/name",
        version="$response.body#/version",
    ),
}


def build_job_router(services: Services) -> Router:
    """The job routes, over ``services.jobs``."""
    router, jobs = Router(), services.jobs

    @router.post(
        "/jobs",
        tags=TAGS,
        responses=documented(
            HTTPStatus.CREATED,
            JobView,
            HTTPStatus.NOT_FOUND,
            HTTPStatus.CONFLICT,
            *WITH_BODY,
            links=JOB_LINKS,
        ),
    )
    def create_job(body: JobSpec) -> Response[Any]:
        """A new version of the job ``body.name`` (v1 for a new name); ``:latest`` moves to it."""
        return json_response(JobView(**jobs.create(body).model_dump()), HTTPStatus.CREATED)

    @router.get("/jobs", tags=TAGS, responses=documented(HTTPStatus.OK, JobList))
    def list_jobs() -> Response[Any]:
        """The latest version of every job, by name."""
        return json_response(JobList(jobs=[JobView(**job.model_dump()) for job in jobs.all()]))

    @router.get("/jobs/<name>", tags=TAGS, responses=documented(HTTPStatus.OK, JobView, HTTPStatus.NOT_FOUND))
    def get_job(name: str) -> Response[Any]:
        """The latest version, with the numbers of every version (newest first)."""
        versions = jobs.versions(name)
        return json_response(JobView(**versions[0].model_dump(), versions=[job.version for job in versions]))

    @router.get(
        "/jobs/<name>/versions/<version>",
        tags=TAGS,
        responses=documented(HTTPStatus.OK, JobView, HTTPStatus.NOT_FOUND),
    )
    def get_job_version(name: str, version: str) -> Response[Any]:
        """One version: ``3``, ``v3`` or ``latest``."""
        return json_response(JobView(**jobs.resolve(f"{name}:{version}").model_dump()))

    return router
