"""Retries with back-off for launches that failed for a passing reason.

What is transient: ``BackendUnavailable`` from a target, a builder, a registry or a code
store while a run is launched — a cloud API throttling or answering 5xx, an API server or
registry not answering, credentials not obtainable for a moment. Such a launch is tried
again, up to the queue's ``retry.max_attempts`` (``RetryPolicy``), waiting longer after
each failure. Everything else is permanent and dead-letters the run at once, as before:
``LaunchFailed`` (the target refused the spec, the build failed, a bad image) and
``InvalidInput`` (a config no retry can mend).

How a run waits, and why this way: the run keeps its claim (``claimed``, or ``building``
when the failure came after its build began) and the failed attempt is recorded as a
same-state move whose lease ends when the back-off does. Nothing new is needed in the
store: when the lease runs out the reconciler puts the run back in line at its place
(priority and seq are kept), exactly as it does for a dispatcher that died, and the move
rings the doorbell. Moving the run to ``queued`` at once instead would have it claimed
again straight away (a claim knows nothing of a next-try time), and teaching claims one
would change every store. The price is that a waiting run holds its slot: while a target
fails, its queue does not pile further launches onto it, and no lower-priority run
overtakes the waiting one.

A run whose asynchronous build has an id is not put back in line (the reconciler follows
its build, not its lease): ``backing_off`` tells the dispatcher to leave it until its
back-off has passed, then the build is asked again and the submit retried.

Each failed attempt is an event (``launch attempt 2 of 3 failed; next try in 20s at ...:
<reason>``); the attempts are counted from the run's events since it last entered its line
(enqueue or replay) or last started, so a replay or a preemption starts a fresh count. A
run that exhausts its attempts is dead-lettered with every attempt's reason.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import timedelta

from launchq.domain.models import Run, RunEvent, RunUpdate
from launchq.domain.retry_policy import RetryPolicy
from launchq.domain.states import RunState
from launchq.errors import BackendUnavailable, LaunchqError, NotFound, StaleWrite
from launchq.service.context import Context
from launchq.service.transitions import Transitions

log = logging.getLogger(__name__)

#: The errors a launch is retried after; every other error dead-letters at once.
TRANSIENT: tuple[type[LaunchqError], ...] = (BackendUnavailable,)

#: States a run waits out its back-off in (it keeps its claim, and its lease is the timer).
WAITING_STATES = frozenset({RunState.CLAIMED, RunState.BUILDING})

#: Each attempt's reason is cut to this many characters (the dead letter holds them all).
REASON_CHARS = 400

_PREFIX = "launch attempt "
_ATTEMPT = re.compile(r"launch attempt \d+ of \d+ failed; next try in \S+ at \S+: (?P<reason>.*)", re.DOTALL)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT)


def attempt_reason(attempt: int, policy: RetryPolicy, delay: float, until: str, reason: str) -> str:
    """The event of a failed attempt that will be retried."""
    return f"{_PREFIX}{attempt} of {policy.max_attempts} failed; next try in {delay:g}s at {until}: {reason}"


def failed_attempts(events: Iterable[RunEvent]) -> list[str]:
    """The reasons of the run's failed attempts since it last entered its line (its enqueue, a
    replay) or last started: a fresh line or a launch that took hold starts a new count."""
    reasons: list[str] = []
    for event in events:
        if event.from_state in (None, RunState.DEAD_LETTER) or event.to_state is RunState.STARTING:
            reasons = []
        elif event.from_state is event.to_state and (match := _ATTEMPT.fullmatch(event.reason)):
            reasons.append(match["reason"])
    return reasons


def gave_up_reason(reasons: list[str]) -> str:
    """The dead letter's reason: how many attempts failed, and each one's reason."""
    listed = "; ".join(f"attempt {n}: {reason}" for n, reason in enumerate(reasons, start=1))
    return f"launch failed {len(reasons)} times for transient reasons (retry.max_attempts): {listed}"


class Retries:
    """Records a transient launch failure: a back-off while attempts are left, else the dead letter."""

    def __init__(self, ctx: Context, moves: Transitions) -> None:
        self.ctx = ctx
        self.moves = moves

    def backing_off(self, run: Run) -> bool:
        """Whether ``run`` is waiting out the back-off after a failed attempt (its last move
        recorded the failure and its lease, the back-off's end, has not run out)."""
        return (
            run.state in WAITING_STATES
            and run.reason.startswith(_PREFIX)
            and run.lease_expires_at is not None
            and run.lease_expires_at > self.ctx.clock()
        )

    def after_failure(self, run: Run, exc: LaunchqError) -> Run:
        """Record the failed attempt of launching ``run``: wait and retry, or dead-letter when
        it was the queue's last allowed attempt. A run that was stopped or moved on meanwhile
        is returned as it is now. Raises BackendUnavailable when the store cannot be reached
        (the run keeps its claim; the reconciler requeues it when the lease runs out)."""
        current = self.ctx.store.get_run(run.id)
        if current.state not in WAITING_STATES:
            return current
        reason = str(exc)[:REASON_CHARS]
        reasons = [*failed_attempts(self.ctx.store.events(run.id)), reason]
        policy, attempt, now = self._policy(run.queue), len(reasons), self.ctx.clock()
        if attempt >= policy.max_attempts:
            log.warning("run %s: launch attempt %d failed, the last allowed: %s", run.id, attempt, reason)
            update = RunUpdate(finished_at=now, clear_lease=True)
            return self.moves.settle(current, RunState.DEAD_LETTER, gave_up_reason(reasons), update)
        delay = policy.delay(attempt)
        until = now + timedelta(seconds=delay)
        log.warning("run %s: launch attempt %d failed, retried in %gs: %s", run.id, attempt, delay, reason)
        event = attempt_reason(attempt, policy, delay, until.strftime("%Y-%m-%dT%H:%M:%SZ"), reason)
        try:  # exact: a claim that expired and was taken again meanwhile is not ours to hold
            update = RunUpdate(lease_expires_at=until)
            return self.moves.move(current, current.state, event, update, exact=True)
        except StaleWrite:
            return self.ctx.store.get_run(run.id)

    def _policy(self, queue: str) -> RetryPolicy:
        try:
            return self.ctx.store.get_queue(queue).retry
        except NotFound:  # the queue was deleted meanwhile: its runs are not retried for ever
            return RetryPolicy()
