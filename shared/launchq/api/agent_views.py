"""What the agent routes take and return (``launchq.api.agent_routes``).

Bodies forbid unknown fields, as every body of the API does. Runs go out whole
(``Run.model_dump``): an agent launches them, so it is trusted with the resolved config.
``agent`` is the agent's name for itself; the control plane only logs it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from launchq.domain.models import Name, Run, RunEvent, RunUpdate
from launchq.domain.states import RunState

MAX_LOG_CHUNK_CHARS = 256 * 1024
"""The most characters of a job's log one ``POST /agents/runs/{id}/logs`` carries."""

MAX_WAIT_SECONDS = 20.0
"""The longest an agent's ``POST /agents/wait`` is held open (well under proxies' idle timeouts)."""

AgentId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9._-]{1,128}$",
        description="the agent's id (1-128 of A-Z a-z 0-9 . _ -); only logged",
    ),
]
LeaseSeconds = Annotated[int, Field(ge=10, le=3600, description="how long the claim holds without a renewal")]
Version = Annotated[int, Field(ge=1, description="the run's version the agent last saw")]


class _AgentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent: AgentId


class ClaimRequest(_AgentBody):
    """Body of ``POST /agents/claim``."""

    queue: Name
    lease_seconds: LeaseSeconds = 120


class WaitRequest(_AgentBody):
    """Body of ``POST /agents/wait``."""

    queues: list[Name] = Field(min_length=1, max_length=100)
    wait_seconds: float = Field(
        default=0, ge=0, le=MAX_WAIT_SECONDS, description="how long to wait for work (local serve only)"
    )


class ReportedUpdate(RunUpdate):
    """The fields a reported move sets (``RunUpdate``), unknown ones refused."""

    model_config = ConfigDict(extra="forbid")


class MoveRequest(_AgentBody):
    """Body of ``POST /agents/runs/{run_id}/move``."""

    version: Version
    from_state: RunState
    to_state: RunState
    reason: str = Field(max_length=2000)
    update: ReportedUpdate = Field(default_factory=ReportedUpdate)


class LeaseRequest(_AgentBody):
    """Body of ``POST /agents/runs/{run_id}/lease``."""

    version: Version
    lease_seconds: LeaseSeconds = 120


class LogShipment(_AgentBody):
    """Body of ``POST /agents/runs/{run_id}/logs``: ``text`` found at ``offset`` of the job's log."""

    offset: int = Field(ge=0, description="where ``text`` starts in the job's whole log")
    text: str = Field(max_length=MAX_LOG_CHUNK_CHARS)


class Claimed(BaseModel):
    run: Run | None


class WorkReady(BaseModel):
    queues: list[str] = Field(description="the queues asked about that have a queued run and a free slot")
    long_poll: bool = Field(description="false: the server cannot wait for work; back off while idle")


class AgentRunList(BaseModel):
    runs: list[Run]


class AgentRunDetail(BaseModel):
    run: Run
    events: list[RunEvent]


class Moved(BaseModel):
    run: Run
    replayed: bool = Field(description="true: this very move was already recorded; nothing was written")


class LeaseRenewed(BaseModel):
    run: Run


class LogShipped(BaseModel):
    end: int = Field(description="the offset in the job's log to ship from next")
