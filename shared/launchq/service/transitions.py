"""The one step every service uses to move a run from one state to another.

A move is a conditional write in the store (the state it expects; DynamoDB also checks the
version). What must follow a move lives here so that no caller can forget it: when a run
leaves an active state its slot is free, and when it goes back to ``queued`` it waits in
line again; either way the queue's doorbell rings. On AWS the doorbell is the only thing
that starts a dispatch, so a move that forgot to ring stalled its queue until the next
enqueue. Claims (``RunStore.claim``) and enqueues (``RunStore.add_run``) are the store's
own atomic steps and stay outside.
"""

from __future__ import annotations

from launchq.domain.models import Run, RunUpdate
from launchq.domain.states import RunState
from launchq.errors import StaleWrite
from launchq.redaction import redact
from launchq.service.context import Context

#: Writes of one move lost to racing writers before it gives up (StaleWrite).
STALE_ATTEMPTS = 3


def wakes_dispatcher(src: RunState, to: RunState) -> bool:
    """A move that frees a slot, or puts a run back in line, is work for the dispatcher."""
    return (src.active and not to.active) or to is RunState.QUEUED


class Transitions:
    """Run moves for the dispatcher, build service, reconciler and run service (stateless)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def move(
        self,
        run: Run,
        to: RunState,
        reason: str,
        update: RunUpdate | None = None,
        *,
        retry: bool = False,
        exact: bool = False,
    ) -> Run:
        """Move ``run`` from the state it is in to ``to``, and ring its queue's doorbell when
        that frees a slot or puts the run back in line. Returns the moved run.

        ``retry``: for moves that depend on nothing but the run's state (a job that ended, a
        stop). A lost write is then re-read and, when the run is still in the state the move
        starts from, written again; a run that moved on raises StaleWrite as without it.
        Never for moves whose precondition is more than the state (a claim's lease, a build
        that stopped making progress): those must see the StaleWrite.

        ``exact``: the run must also still be at ``run.version`` (an agent's report: a run
        its lease lost and another agent now holds is not its to move).

        Raises NotFound; Conflict (the state machine forbids the move); StaleWrite (the
        run moved on); BackendUnavailable (store or doorbell; the move may have been stored).
        """
        for _ in range(STALE_ATTEMPTS - 1 if retry else 0):
            try:
                return self._write(run, to, reason, update, exact)
            except StaleWrite:
                if self.ctx.store.get_run(run.id).state is not run.state:
                    raise  # the move's precondition is gone: not ours to redo
        return self._write(run, to, reason, update, exact)

    def settle(
        self,
        run: Run,
        to: RunState,
        reason: str,
        update: RunUpdate | None = None,
        *,
        retry: bool = False,
        exact: bool = False,
    ) -> Run:
        """``move``, except that a run that moved on meanwhile is returned as it is now: for
        the reconciler's moves, where whoever moved the run recorded the newer truth."""
        try:
            return self.move(run, to, reason, update, retry=retry, exact=exact)
        except StaleWrite:
            return self.ctx.store.get_run(run.id)

    def _write(
        self, run: Run, to: RunState, reason: str, update: RunUpdate | None, exact: bool = False
    ) -> Run:
        store, now = self.ctx.store, self.ctx.clock()
        reason = redact(reason)  # a reason may quote a job's output or an error: no secret kept
        if exact:
            moved = store.transition(run.id, run.state, to, reason, now, update, expected_version=run.version)
        else:
            moved = store.transition(run.id, run.state, to, reason, now, update)
        if wakes_dispatcher(run.state, to):
            self.ctx.doorbell.ring(run.queue)
        return moved
