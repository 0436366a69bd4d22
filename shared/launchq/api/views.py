"""What the API returns: response models built from the domain records."""

from __future__ import annotations

from datetime import datetime

from pydantic import Base64Bytes, BaseModel, ConfigDict, Field, field_validator

from launchq.domain.models import JsonObject, Queue, Run, RunEvent, RunSpec, Schedule
from launchq.domain.priority import PriorityField
from launchq.domain.states import TERMINAL, RunState
from launchq.service.waiting import Outlook, WaitingKind


class QueueView(Queue):
    active: int
    queued: int


class EventView(BaseModel):
    at: datetime
    from_state: RunState | None
    to_state: RunState
    reason: str

    @classmethod
    def of(cls, event: RunEvent) -> EventView:
        return cls(at=event.at, from_state=event.from_state, to_state=event.to_state, reason=event.reason)


class WaitingView(BaseModel):
    """Why a run that has not started is waiting (``launchq.service.waiting``)."""

    kind: WaitingKind = Field(
        description="ahead: runs ahead of it in line; queue_full: its queue at max_jobs; agent_full: the "
        "agent-wide max_jobs reached; building: its image builds; admission: waiting for Kueue; target: "
        "the target has not started it (its words); retry: backing off before a retry; dispatcher: "
        "waiting to be claimed or launched"
    )
    reason: str = Field(description="in plain words, e.g. '3 runs ahead of it (1 critical, 2 high)'")
    since: datetime | None = Field(
        description="when the run entered this wait (in a listing: its latest move)"
    )
    events: list[EventView] = Field(
        description="the run's latest events the reason came from (GET /runs/{id} only; empty in a listing)"
    )

    @classmethod
    def of(cls, outlook: Outlook) -> WaitingView | None:
        waiting = outlook.waiting
        if waiting is None:
            return None
        events = [EventView.of(e) for e in waiting.events]
        return cls(kind=waiting.kind, reason=waiting.reason, since=waiting.since, events=events)


class RunCreated(BaseModel):
    id: str
    queue: str
    state: RunState
    priority: PriorityField
    position: int | None


class RunView(BaseModel):
    id: str
    queue: str
    entity: str
    project: str | None
    name: str | None
    state: RunState
    priority: PriorityField
    position: int | None
    exit_code: int | None
    reason: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    spec: RunSpec
    job: str | None = None
    resolved: JsonObject
    events: list[EventView] | None = None
    waiting: WaitingView | None = Field(
        default=None, description="what holds a run that has not started; null once running or ended"
    )
    eta: datetime | None = Field(
        default=None,
        description="estimated start (UTC) of a queued run, from the median duration of the queue's last "
        "20 finished runs, the runs ahead and the queue's max_jobs (a run backing off: its next try); "
        "null without 3 such runs, for an unlimited queue, or once running",
    )

    @classmethod
    def of(
        cls,
        run: Run,
        position: int | None,
        events: list[RunEvent] | None = None,
        outlook: Outlook | None = None,
    ) -> RunView:
        return cls(
            id=run.id,
            queue=run.queue,
            entity=run.entity,
            project=run.spec.project,
            name=run.spec.name,
            state=run.state,
            priority=run.priority,
            position=position,
            exit_code=run.exit_code,
            reason=run.reason,
            created_at=run.created_at,
            updated_at=run.updated_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            spec=run.spec,
            job=run.job,
            resolved=run.resolved,
            events=[EventView.of(e) for e in events] if events is not None else None,
            waiting=WaitingView.of(outlook) if outlook is not None else None,
            eta=outlook.eta if outlook is not None else None,
        )


class LogChunk(BaseModel):
    run_id: str
    state: RunState
    text: str
    offset: int
    next_offset: int


class ScheduleView(Schedule):
    pass


class CodeUpload(BaseModel):
    """Body of ``POST /code``: a tar or tar.gz of the source tree, base64-encoded (JSON keeps
    the one body format that API Gateway and the local server both pass through unchanged)."""

    model_config = ConfigDict(extra="forbid")

    data: Base64Bytes = Field(description="base64 of a .tar or .tar.gz archive")


class CodeUploaded(BaseModel):
    uri: str = Field(description="code://<sha256>: pass as a run's uri")


class QueueList(BaseModel):
    queues: list[QueueView]


class RunList(BaseModel):
    runs: list[RunView]


class ScheduleList(BaseModel):
    schedules: list[ScheduleView]


_STOPPABLE_NAMES = [state.value for state in RunState if state not in TERMINAL]


class QueueStop(BaseModel):
    """Body of ``POST /queues/{name}/stop`` (optional): which of the queue's runs to stop."""

    model_config = ConfigDict(extra="forbid")

    states: list[str] | None = Field(
        default=None,
        description="stop only runs in these states; default: every state not ended "
        f"({', '.join(_STOPPABLE_NAMES)})",
    )

    @field_validator("states")
    @classmethod
    def _known_states(cls, states: list[str] | None) -> list[str] | None:
        """Names checked here, in words, so the error names ``states`` and what is allowed."""
        if states is None:
            return None
        if not states:
            raise ValueError("give at least one state, or leave states out to stop every run not ended")
        for name in states:
            if name not in _STOPPABLE_NAMES:
                kind = "has ended" if name in RunState.__members__.values() else "is not a run state"
                raise ValueError(f"{name!r} {kind}; runs can be stopped in {', '.join(_STOPPABLE_NAMES)}")
        return states

    def run_states(self) -> list[RunState] | None:
        return None if self.states is None else [RunState(name) for name in self.states]


class QueueStopped(BaseModel):
    queue: str
    stopped: list[str] = Field(description="ids of the runs this request stopped (cancelled or told to stop)")
    count: int
