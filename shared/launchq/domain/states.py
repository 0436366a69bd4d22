"""Run states and the transitions allowed between them (see docs/architecture.md, "Run states")."""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    QUEUED = "queued"
    CLAIMED = "claimed"
    BUILDING = "building"
    STARTING = "starting"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPING = "stopping"
    STOPPED = "stopped"
    CANCELLED = "cancelled"
    PREEMPTED = "preempted"
    DEAD_LETTER = "dead_letter"

    @property
    def active(self) -> bool:
        """Occupies one of its queue's ``max_jobs`` slots."""
        return self in ACTIVE


TERMINAL = frozenset(
    {RunState.FINISHED, RunState.FAILED, RunState.STOPPED, RunState.CANCELLED, RunState.DEAD_LETTER}
)
ACTIVE = frozenset(
    {RunState.CLAIMED, RunState.BUILDING, RunState.STARTING, RunState.RUNNING, RunState.STOPPING}
)

_S = RunState
ALLOWED: dict[RunState, frozenset[RunState]] = {
    _S.QUEUED: frozenset({_S.CLAIMED, _S.CANCELLED}),
    # claimed -> claimed records a failed launch attempt waiting out its back-off (service.retries)
    _S.CLAIMED: frozenset(
        {_S.CLAIMED, _S.QUEUED, _S.BUILDING, _S.STARTING, _S.DEAD_LETTER, _S.STOPPING, _S.STOPPED}
    ),
    # building -> building records progress (an asynchronous build got its id)
    # building -> queued: a synchronous build whose dispatcher died (its lease ran out)
    _S.BUILDING: frozenset({_S.BUILDING, _S.QUEUED, _S.STARTING, _S.DEAD_LETTER, _S.STOPPING, _S.FAILED}),
    _S.STARTING: frozenset({_S.RUNNING, _S.FINISHED, _S.FAILED, _S.DEAD_LETTER, _S.STOPPING, _S.PREEMPTED}),
    _S.RUNNING: frozenset({_S.FINISHED, _S.FAILED, _S.STOPPING, _S.PREEMPTED}),
    _S.STOPPING: frozenset({_S.STOPPED, _S.FINISHED, _S.FAILED}),
    _S.PREEMPTED: frozenset({_S.QUEUED}),
    _S.DEAD_LETTER: frozenset({_S.QUEUED}),  # replay
    _S.FINISHED: frozenset(),
    _S.FAILED: frozenset(),
    _S.STOPPED: frozenset(),
    _S.CANCELLED: frozenset(),
}


def can_transition(src: RunState, dst: RunState) -> bool:
    return dst in ALLOWED[src]
