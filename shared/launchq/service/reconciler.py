"""The reconciler: brings the store in line with the world, on a timer.

One ``tick`` expires stale claims (back to ``queued``, same place in line), asks targets
about live runs (the polling path for targets that push no events), finishes stops,
requeues preempted runs, dead-letters runs stuck in ``starting``, fires due cron
schedules, and rings the doorbell of every queue that has runs waiting and a free slot:
the safety net for a ring that was lost (a doorbell message refused after its move was
stored). Every change is a conditional write, so several reconcilers at once are harmless.

Preemption: a job the target reports ``preempted`` (the cluster took it away; no fault of
the run) moves ``preempted`` (the event keeps the target's detail) and at once back to
``queued``. Stores keep a run's priority and ``seq`` across moves, so it waits at its
original place in line, ahead of runs enqueued after it. ``Run.preemptions`` counts these
moves and is the attempt number a target uses to keep a resubmitted job apart from the
one taken away. The ``max_preemptions``-th preemption fails the run instead ("preempted N
times"): a job that can never hold its place must not loop for ever.

Agents: on a control plane (``Context.control_plane``) the runs of ``dispatch: agents``
queues are their agents' to poll, build and settle; it only expires their claims (a dead
agent's unlaunched runs go back in line). Anywhere, a job the target does not see
(``Target.sees``: another host's local process) is left to the process that sees it.

Start timeout: a run ``starting`` too long is dead-lettered (a launch that never took
hold: worth a replay), except when the target says the scheduler cannot place it
(``TargetStatus.unschedulable``): that is ``failed`` with the scheduler's words, as a
replay would meet the same cluster.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from launchq.domain.models import Run, RunUpdate
from launchq.domain.states import RunState
from launchq.errors import LaunchqError, StaleWrite
from launchq.ports import Target, TargetStatus
from launchq.service.context import Context
from launchq.service.dispatcher import Dispatcher, serves
from launchq.service.schedules import ScheduleService
from launchq.service.transitions import Transitions

log = logging.getLogger(__name__)

# The states whose job a target is asked about (also on a job's state-change event).
POLLED = (RunState.STARTING, RunState.RUNNING, RunState.STOPPING)
_ENDED = {"finished": RunState.FINISHED, "failed": RunState.FAILED}


class Reconciler:
    def __init__(self, ctx: Context, schedules: ScheduleService, dispatcher: Dispatcher) -> None:
        self.ctx = ctx
        self.schedules = schedules
        self.dispatcher = dispatcher
        self.moves = Transitions(ctx)

    def tick(self) -> None:
        self.expire_claims()
        self.poll_builds()
        self.poll_runs()
        self.requeue_preempted()
        self.schedules.fire_due()
        self.ring_waiting_queues()

    def ring_waiting_queues(self) -> None:
        """A queue with runs in line and a free slot should be dispatching; ring it in case
        the ring that should have started it was lost. A spare ring costs one empty claim."""
        store = self.ctx.store
        for queue in store.list_queues():
            if not serves(self.ctx, queue):
                continue  # agents ask for work themselves (POST /agents/wait)
            try:
                if store.count_queued(queue.name) and queue.has_free_slot(store.count_active(queue.name)):
                    self.ctx.doorbell.ring(queue.name)
            except LaunchqError as exc:  # one queue must not stop the others being rung
                log.warning("could not ring queue %s: %s", queue.name, exc)

    def expire_claims(self) -> None:
        now = self.ctx.clock()
        for run in self.ctx.store.list_runs(states=[RunState.CLAIMED], limit=10_000):
            if run.lease_expires_at is not None and run.lease_expires_at < now:
                # at the version read (exact): a run requeued and claimed again meanwhile is
                # ``claimed`` once more, under a new lease, and must not be requeued from under
                # its new dispatcher (the fault-injection soak caught that double launch)
                try:
                    update = RunUpdate(clear_lease=True)
                    self.moves.move(run, RunState.QUEUED, "claim expired; back in line", update, exact=True)
                except StaleWrite:
                    continue

    def poll_builds(self) -> None:
        """Asynchronous builds (with a build id) are followed. A synchronous build (no build
        id) is its dispatcher's while that renews its lease (``service.leases``): once the
        lease has run out the dispatcher is gone, and the run goes back to its place in line
        to be built again. One with no lease at all (from before leases were held through
        builds) is dead-lettered after the build timeout without progress, as before."""
        limit = timedelta(seconds=self.ctx.settings.build_timeout_seconds)
        for run in self.ctx.store.list_runs(states=[RunState.BUILDING], limit=10_000):
            try:
                if run.build_id:
                    if self._serves(run):  # an agent's build is followed by that agent
                        self.dispatcher.resume(run)
                elif run.lease_expires_at is not None:
                    if run.lease_expires_at < self.ctx.clock():
                        self.moves.settle(  # not retried: a renewal meanwhile means it lives
                            run,
                            RunState.QUEUED,
                            "build interrupted (its dispatcher stopped); back in line",
                            RunUpdate(clear_lease=True),
                            exact=True,  # requeued and claimed and building again meanwhile: not ours
                        )
                elif self.ctx.clock() - run.updated_at > limit:
                    self.moves.settle(  # not retried: a write meanwhile is progress
                        run,
                        RunState.DEAD_LETTER,
                        "build interrupted (no progress)",
                        RunUpdate(finished_at=self.ctx.clock()),
                    )
            except LaunchqError as exc:  # one bad run must not stop the others being reconciled
                log.warning("could not follow the build of run %s: %s", run.id, exc)

    def poll_runs(self) -> None:
        for run in self.ctx.store.list_runs(states=POLLED, limit=10_000):
            try:
                self.poll(run)
            except LaunchqError as exc:  # one bad run must not stop the others being reconciled
                log.warning("could not reconcile run %s: %s", run.id, exc)

    def requeue_preempted(self) -> None:
        """Put back in line the runs left ``preempted`` (a requeue lost after its preemption was stored)."""
        for run in self.ctx.store.list_runs(states=[RunState.PREEMPTED], limit=10_000):
            try:
                self._requeue(run)
            except LaunchqError as exc:  # one bad run must not stop the others being reconciled
                log.warning("could not requeue preempted run %s: %s", run.id, exc)

    def poll(self, run: Run) -> Run:
        """Apply the target's view of one live run.

        A run whose job this process cannot reach is left as it is, to a process that can:
        on a control plane the runs of agents queues, and anywhere a job the target does not
        see (another host's local process). A stop before launch asks no target: settled here.
        """
        if run.state == RunState.STOPPING:
            return self._poll_stopping(run)
        target = self._reachable_target(run)
        if target is None:
            return run
        status = target.status(run)
        if status.state in _ENDED or status.state in ("stopped", "lost"):
            return self._ended(run, status)
        if status.state == "preempted":
            return self._preempted(run, status, target)
        if status.state == "running" and run.state == RunState.STARTING:
            return self._move(run, RunState.RUNNING, status.detail or "job is running")
        return self._starting(run, status, target) if status.state == "starting" else run

    def _serves(self, run: Run) -> bool:
        return not self.ctx.control_plane or serves(self.ctx, self.ctx.store.get_queue(run.queue))

    def _reachable_target(self, run: Run) -> Target | None:
        """The run's target when this process serves its queue and the target sees its job."""
        queue = self.ctx.store.get_queue(run.queue)
        if not serves(self.ctx, queue):
            return None
        target = self.ctx.targets.get(queue.resource)
        return target if target.sees(run) else None

    def _starting(self, run: Run, status: TargetStatus, target: Target) -> Run:
        """A job not started past the start timeout is stopped and dead-lettered; failed when
        the scheduler cannot place it (a replay would meet the same cluster)."""
        if not self._start_timed_out(run):
            return run
        target.stop(run)
        return self.moves.settle(  # not retried: a write meanwhile restarts the clock
            run,
            RunState.FAILED if status.unschedulable else RunState.DEAD_LETTER,
            f"did not start within {self.ctx.settings.start_timeout_seconds:g}s"
            + (f": {status.detail}" if status.detail else ""),
            RunUpdate(finished_at=self.ctx.clock()),
        )

    def _preempted(self, run: Run, status: TargetStatus, target: Target) -> Run:
        """Requeue a preempted run at its place in line, or fail it at its last allowed preemption.

        The taken job is stopped first (idempotent): what is left of it (other pods of a
        multi-pod job) must not run beside the next attempt.
        """
        target.stop(run)
        count, limit = run.preemptions + 1, self.ctx.settings.max_preemptions
        detail = status.detail or "the target took the job away"
        if count >= limit:
            return self._move(
                run,
                RunState.FAILED,
                f"preempted {count} times (the limit): {detail}",
                RunUpdate(exit_code=status.exit_code, finished_at=self.ctx.clock()),
            )
        moved = self._move(
            run, RunState.PREEMPTED, f"preempted ({count} of {limit}): {detail}", RunUpdate(preemptions=count)
        )
        return self._requeue(moved) if moved.state == RunState.PREEMPTED else moved

    def _requeue(self, run: Run) -> Run:
        return self._move(run, RunState.QUEUED, "back in line at its place after preemption")

    def _poll_stopping(self, run: Run) -> Run:
        if run.started_at is None:
            return self._move(run, RunState.STOPPED, "stopped before it was launched")
        target = self._reachable_target(run)
        if target is None:
            return run
        status = target.status(run)
        if status.state in ("running", "starting"):
            target.stop(run)  # idempotent: makes sure a stop survives a restart of the server
            return run
        code = f" (exit code {status.exit_code})" if status.exit_code is not None else ""
        return self._move(
            run,
            RunState.STOPPED,
            f"stopped{code}",
            RunUpdate(exit_code=status.exit_code, finished_at=self.ctx.clock()),
        )

    def _ended(self, run: Run, status: TargetStatus) -> Run:
        to = _ENDED.get(status.state, RunState.FAILED)
        if status.state == "finished":
            reason = "exited with code 0"
        elif status.exit_code is not None:
            reason = f"exited with code {status.exit_code}"
        else:
            reason = f"job {status.state}"
        if status.detail:
            reason = f"{reason}: {status.detail}"
        return self._move(
            run, to, reason, RunUpdate(exit_code=status.exit_code, finished_at=self.ctx.clock())
        )

    def _start_timed_out(self, run: Run) -> bool:
        started = run.started_at or run.updated_at
        return self.ctx.clock() - started > timedelta(seconds=self.ctx.settings.start_timeout_seconds)

    def _move(self, run: Run, to: RunState, reason: str, update: RunUpdate | None = None) -> Run:
        """Apply what the target (or the store) says happened: it depends on nothing but
        the run's state, so a write lost to a racing writer is retried."""
        return self.moves.settle(run, to, reason, update, retry=True)
