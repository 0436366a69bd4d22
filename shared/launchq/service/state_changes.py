"""What a pushed state change does to its run: the rules behind the events entry points.

A cloud pushes two kinds of news: a job changed state (SageMaker's EventBridge event, a
Kubernetes watch, ...) and a build changed state (CodeBuild's event, a Kaniko job, ...).
An entry point (``functions/aws/events.py``) only parses the event into a run id (and a
build id and state) and calls one method here; what follows is the service's decision.

Neither event is trusted for what it says happened: the job's target or the builder is
asked again before anything moves, so a late, repeated or forged event can at worst cost
one extra status call, never move a run the wrong way. Both paths are the reconciler's
polling done at once for one run; the reconciler stays the fallback for a lost event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from launchq.domain.models import Run
from launchq.domain.states import RunState
from launchq.ports import BuildState
from launchq.service.context import Context
from launchq.service.dispatcher import Dispatcher
from launchq.service.reconciler import POLLED, Reconciler

BuildEventOutcome = Literal["in_progress", "not_waiting", "resumed"]


@dataclass(frozen=True)
class BuildEventResult:
    """What a build event did: ``in_progress`` (nothing read or moved), ``not_waiting``
    (the run, unchanged, waits on no such build: a stale or repeated event), or ``resumed``
    (the run after the dispatcher followed its build: starting, dead-lettered, or still
    building). ``run`` is None only for ``in_progress``."""

    outcome: BuildEventOutcome
    run: Run | None = None


def waits_on_build(run: Run, build_id: str) -> bool:
    """Whether ``run`` is ``building`` with the asynchronous build ``build_id``."""
    return run.state == RunState.BUILDING and run.build_id == build_id


class StateChangeService:
    def __init__(self, ctx: Context, dispatcher: Dispatcher, reconciler: Reconciler) -> None:
        self.ctx = ctx
        self.dispatcher = dispatcher
        self.reconciler = reconciler

    def on_job_state_change(self, run_id: str) -> Run:
        """Reconcile at once the run whose job changed state; return it as it is now.

        A run the reconciler does not poll (queued, building, or already ended) is returned
        unchanged. Raises NotFound (no such run), BackendUnavailable.
        """
        run = self.ctx.store.get_run(run_id)
        return self.reconciler.poll(run) if run.state in POLLED else run

    def on_build_state_change(self, run_id: str, build_id: str, state: BuildState) -> BuildEventResult:
        """Resume the run if it is waiting on this build and the build is over.

        A build still ``building`` changes nothing (no run is read). Raises NotFound (no
        such run), BackendUnavailable.
        """
        if state == "building":
            return BuildEventResult("in_progress")
        run = self.ctx.store.get_run(run_id)
        if not waits_on_build(run, build_id):
            return BuildEventResult("not_waiting", run)
        return BuildEventResult("resumed", self.dispatcher.resume(run))
