"""The control plane's side of agents: what ``launchq agent --url`` asks for over HTTP.

An agent on a machine of its own (a GPU workstation, an on-prem cluster) pulls the runs of
``dispatch: agents`` queues: it claims with a lease, renews the lease while it launches,
reports every move with the version it last saw, and ships its jobs' logs. Everything goes
through the same store steps as the control plane's own dispatcher: the atomic claim (each
queue's ``max_jobs`` holds across all agents), and the one transition step (a move that
frees a slot rings the doorbell).

Reports are conditional and idempotent. Conditional: a move names the state and the
version the agent saw, so an agent whose lease expired (the run went back in line and
another agent holds it now, at a later version) cannot move it. Idempotent: a report whose
answer was lost is sent again with the same version; when the run is past that version and
the event that left it is the very move reported (same from, to and reason), the answer is
the run as it is, and nothing is written twice. Log chunks carry their offset in the job's
log, so a chunk sent twice is merged once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Iterable
from datetime import timedelta
from typing import Protocol

from launchq.domain.models import Queue, Run, RunEvent, RunUpdate
from launchq.domain.states import RunState, can_transition
from launchq.errors import Conflict, StaleWrite
from launchq.port_values import LOG_TAIL_CHARS
from launchq.ports import LogTail
from launchq.redaction import redact
from launchq.service.context import Context
from launchq.service.transitions import Transitions

log = logging.getLogger(__name__)

MAX_LONG_POLLS = 4
"""Waits held open at once. The local server resolves requests in 8 worker threads
(``launchq.local.asgi.WORKERS``) and a held wait holds one: past this many, a wait is
answered at once with ``long_poll`` false (the agent backs off), and the other half of
the threads keep serving everyone else."""


class RingWaiter(Protocol):
    """A doorbell this process can hear without taking rings from its dispatcher
    (``InProcessDoorbell``); a Lambda function hears none."""

    def mark(self) -> int: ...

    def wait_rung(self, queues: Collection[str], after: int, timeout: float) -> set[str]: ...


def gap_marker(missing: int) -> str:
    """What stands in the shipped log for ``missing`` characters the agent never shipped."""
    return f"\n[... {missing} characters not shipped ...]\n"


def merge_log(tail: LogTail | None, offset: int, text: str) -> LogTail | None:
    """``tail`` with the chunk ``text`` found at ``offset`` of the job's log merged in, or
    None when the chunk adds nothing (a retry of a chunk already merged).

    A chunk at the tail's end is appended; one wholly before it is a retry; one that
    overlaps it is trimmed to what is new; one past it leaves a gap, kept as a marker line
    saying how many characters are missing. Only the last ``LOG_TAIL_CHARS`` are kept.
    """
    end = tail.end if tail is not None else 0
    if offset + len(text) <= end:
        return None
    if offset < end:
        text, offset = text[end - offset :], end
    marker = gap_marker(offset - end) if offset > end else ""
    kept = (tail.text if tail is not None else "") + marker + text
    return LogTail(text=kept[-LOG_TAIL_CHARS:], end=offset + len(text))


class AgentService:
    """The agent routes' service (``launchq.api.agent_routes``)."""

    def __init__(
        self, ctx: Context, rings: RingWaiter | None = None, max_long_polls: int = MAX_LONG_POLLS
    ) -> None:
        self.ctx = ctx
        self.rings = rings
        self.moves = Transitions(ctx)
        self._long_polls = threading.BoundedSemaphore(max_long_polls)

    def agents_queue(self, name: str) -> Queue:
        """The queue ``name``, which must be one agents serve.

        Raises NotFound; Conflict (field ``queue``) for a queue the server dispatches itself.
        """
        queue = self.ctx.store.get_queue(name)
        if queue.dispatch != "agents":
            raise Conflict(
                f"queue {name!r} is dispatched by the server (dispatch: {queue.dispatch}); "
                "agents take runs only from queues with dispatch: agents",
                field="queue",
            )
        return queue

    def claim(self, agent: str, queue: str, lease_seconds: int) -> Run | None:
        """Claim the first run in line of an agents queue, if it has one and a free slot.

        Raises NotFound, Conflict (not an agents queue), BackendUnavailable.
        """
        self.agents_queue(queue)
        now = self.ctx.clock()
        run = self.ctx.store.claim(
            queue, now, now + timedelta(seconds=lease_seconds), claimer=f"agent {agent}"
        )
        if run is not None:
            log.info("agent %s claimed run %s of queue %s", agent, run.id, queue)
        return run

    def ready(self, queues: Iterable[str]) -> list[str]:
        """Those of ``queues`` (agents queues) with a run in line and a free slot now."""
        store, found = self.ctx.store, []
        for name in queues:
            queue = self.agents_queue(name)
            if store.count_queued(name) and queue.has_free_slot(store.count_active(name)):
                found.append(name)
        return found

    def wait(self, queues: list[str], wait_seconds: float) -> tuple[list[str], bool]:
        """The queues of ``queues`` that have work now, and whether this was a long poll.

        When none has work and this process hears its doorbell (and holds fewer than
        ``MAX_LONG_POLLS`` waits), wait up to ``wait_seconds`` for one of them to be rung,
        and look again. Otherwise answer at once: long poll False tells the agent to back
        off while idle. Raises NotFound, Conflict (a queue that is not an agents queue).
        """
        if self.rings is None or not self._long_polls.acquire(blocking=False):
            return self.ready(queues), False
        try:
            return self._wait(self.rings, queues, time.monotonic() + wait_seconds), True
        finally:
            self._long_polls.release()

    def _wait(self, rings: RingWaiter, queues: list[str], deadline: float) -> list[str]:
        while True:
            mark = rings.mark()  # before looking: a ring while we look is not missed
            found = self.ready(queues)
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                return found
            if not rings.wait_rung(queues, mark, remaining):
                return []  # nothing rang: nothing changed

    def runs(self, queue: str, states: list[RunState] | None, limit: int) -> list[Run]:
        """Runs of ``queue``, newest first (``RunStore.list_runs``). Raises NotFound."""
        self.ctx.store.get_queue(queue)
        return self.ctx.store.list_runs(queue=queue, states=states or None, limit=limit)

    def run(self, run_id: str) -> tuple[Run, list[RunEvent]]:
        """A run with its events. Raises NotFound."""
        return self.ctx.store.get_run(run_id), self.ctx.store.events(run_id)

    def move(
        self,
        agent: str,
        run_id: str,
        version: int,
        states: tuple[RunState, RunState],
        reason: str,
        update: RunUpdate,
    ) -> tuple[Run, bool]:
        """Move a run ``states[0] -> states[1]`` if it is still at ``version``; returns
        (run, replayed). A report already applied (the event that left ``version`` is this
        very move) returns the run as it is with replayed True, writing nothing.

        Raises NotFound; Conflict (field ``queue``: not an agents queue's run; field
        ``to_state``: the state machine forbids the move); StaleWrite (field ``version`` or
        ``state``: the run moved on); BackendUnavailable.
        """
        src, to = states
        run = self.ctx.store.get_run(run_id)
        self.agents_queue(run.queue)
        if run.version > version:  # a retry, or the report of an agent that lost the run
            if self._already_moved(run_id, version, src, to, reason):
                return run, True
            raise StaleWrite(f"run {run_id} is at version {run.version}, not {version}", field="version")
        if not can_transition(src, to):  # named apart from a stale report (field state)
            raise Conflict(f"a run cannot go from {src.value} to {to.value}", field="to_state")
        seen = run.model_copy(update={"state": src, "version": version})
        moved = self.moves.move(seen, to, reason, update, exact=True)
        log.info("agent %s moved run %s %s -> %s", agent, run_id, src.value, to.value)
        return moved, False

    def _already_moved(self, run_id: str, version: int, src: RunState, to: RunState, reason: str) -> bool:
        events = self.ctx.store.events(run_id)
        if len(events) <= version:
            return False
        left = events[version]  # events[v - 1] produced version v; events[v] left it
        return (left.from_state, left.to_state, left.reason) == (src, to, reason)

    def renew(self, agent: str, run_id: str, version: int, lease_seconds: int) -> Run:
        """Extend the lease of a run still claimed or building at ``version``.

        Raises NotFound, Conflict (not an agents queue's run), StaleWrite (it moved on).
        """
        self.agents_queue(self.ctx.store.get_run(run_id).queue)
        until = self.ctx.clock() + timedelta(seconds=lease_seconds)
        renewed = self.ctx.store.renew_lease(run_id, version, until)
        log.debug("agent %s renewed the lease of run %s until %s", agent, run_id, until.isoformat())
        return renewed

    def ship_log(self, agent: str, run_id: str, offset: int, text: str) -> int:
        """Merge a chunk of a job's log (``merge_log``); returns the end of what is kept, where
        the agent continues. One shipper per run is assumed: two agents shipping one run's
        log at once could lose a chunk (it is only the log, and only one agent holds a run).

        Raises NotFound, Conflict (not an agents queue's run).
        """
        self.agents_queue(self.ctx.store.get_run(run_id).queue)
        tail = self.ctx.store.log_tail(run_id)
        merged = merge_log(tail, offset, text)
        if merged is None:
            return tail.end if tail is not None else 0
        self.ctx.store.save_log_tail(run_id, merged.model_copy(update={"text": redact(merged.text)}))
        log.debug("agent %s shipped %d characters of run %s's log", agent, len(text), run_id)
        return merged.end
