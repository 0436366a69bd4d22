"""What the job routes return (tag ``jobs``): jobs as stored, and a job with its versions."""

from __future__ import annotations

from pydantic import BaseModel, Field

from launchq.domain.jobs import Job


class JobView(Job):
    """One job version; ``GET /jobs/{name}`` adds every version there is (``versions``)."""

    versions: list[int] | None = Field(default=None, description="every version of the job, newest first")


class JobList(BaseModel):
    jobs: list[JobView]
