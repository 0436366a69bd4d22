"""Why a run that has not started yet is waiting, and when it is likely to start.

``GET /runs/{id}`` and ``GET /runs`` carry, for a run that is neither running nor ended,
``waiting`` (what holds it, in plain words, with the events the words came from) and
``eta`` (an estimate of its start). Everything is read from the store the API already
reads; nothing is recorded for it.

What holds a run (``WaitingKind``), by its state:

* ``queued``: ``ahead`` (runs ahead of it in line: higher priorities, then older runs of
  its own); with nothing ahead, ``queue_full`` (its queue at ``max_jobs``), ``agent_full``
  (the agent-wide ``max_jobs`` of ``launchq serve -c FILE`` reached across the queues it
  dispatches), else ``dispatcher`` (a slot is free: waiting to be claimed; it says when
  this queue last saw a claim, the nearest thing to a dispatcher heartbeat the store has).
* ``claimed``/``building`` waiting out a back-off after a failed launch: ``retry`` (its
  ``eta`` is the next try). Otherwise ``claimed`` is ``dispatcher`` (being launched) and
  ``building`` is ``building`` (``image building (step 4/9 RUN ...)`` when the build log
  names its steps: ``launchq.build.steps``, as ``runs logs -f`` reads them).
* ``starting``: ``admission`` when the target says the job waits for Kueue, else
  ``target`` with the target's words (``target says: 0/4 nodes are available: ...``).
  ``preempted`` (on its way back in line) is ``target`` too.

Only ``GET /runs/{id}`` asks the target and reads the build log; the list reads neither
(it could hold thousands of runs), so there a building run is ``image building`` and a
starting one ``submitted to <resource>, waiting for it to start``, and ``events`` is empty
(``since`` is then the run's latest move). The list reads each queue's line once for all
its runs on the page, not once per run. A line is read whole only while it is shorter
than ``LINE_LIMIT`` (the store counts it first): a longer line's runs ahead are counted by
the store (``RunStore.position``, an index count) and the reason gives their number
without the split by priority. Reading a deep line whole cost ~0.6 to 0.9 s per request at
10,000 queued runs on SQLite, under the GIL, for every poll of a waiting run.

ETA method (queued runs): take the median duration (start to end) of the last
``HISTORY_RUNS`` (20) finished or failed runs of the queue that started. Each running
run is expected to hold its slot for the median minus the time it has run (never below
0; a claimed or building run, the whole median). Then play the line forward over the
queue's ``max_jobs`` slots: each run ahead of this one, in line order, takes the slot that
frees first and holds it for the median; this run starts when a slot frees after them.
``eta = now + that wait``. It falls as runs ahead finish (earlier than the median, or
simply by leaving the line), and runs behind never count. It is ``null`` with fewer than
``MIN_HISTORY`` (3) such runs, or for an unlimited queue (``max_jobs: -1``: no slots to
reason with): never a made-up number. The agent-wide cap and build times are not in it.
A run backing off before a retry has its next try as ``eta``; other states have none.
"""

from __future__ import annotations

import heapq
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from launchq.build.steps import latest_step
from launchq.domain.models import Queue, Run, RunEvent
from launchq.domain.priority import Priority
from launchq.domain.states import ACTIVE, RunState
from launchq.errors import LaunchqError, NotFound
from launchq.service.builds import BuildService
from launchq.service.context import Context
from launchq.service.dispatcher import serves
from launchq.service.queues import queue_target
from launchq.service.retries import Retries
from launchq.service.transitions import Transitions

__all__ = [
    "HISTORY_RUNS",
    "MIN_HISTORY",
    "Outlook",
    "Waiting",
    "WaitingKind",
    "WaitingService",
    "ahead_reason",
    "estimate_start",
    "median_duration",
]

HISTORY_RUNS = 20
"""N: the finished runs of a queue whose median duration the ETA uses."""
MIN_HISTORY = 3
"""K: fewer finished runs than this, and there is no ETA."""
EVENTS_KEPT = 3
"""At most this many of a run's latest events back a reason."""
LINE_LIMIT = 500
"""A queue's line is read whole (and split by priority) only while shorter than this."""
ACTIVE_LIMIT = 10_000
"""The most active runs read for one queue (they are at most ``max_jobs``)."""
STEP_CHARS = 100
"""A build step named in a reason is cut to this many characters."""

WaitingKind = Literal[
    "ahead", "queue_full", "agent_full", "building", "admission", "target", "retry", "dispatcher"
]
WAITS = frozenset(
    {RunState.QUEUED, RunState.CLAIMED, RunState.BUILDING, RunState.STARTING, RunState.PREEMPTED}
)
"""States of a run that has not started (``running``, ``stopping`` and the ends wait for nothing)."""
_HISTORY_STATES = (RunState.FINISHED, RunState.FAILED)


@dataclass(frozen=True)
class Waiting:
    """What holds a run, in plain words, and the events the words came from."""

    kind: WaitingKind
    reason: str
    since: datetime | None = None
    events: tuple[RunEvent, ...] = ()


@dataclass(frozen=True)
class Outlook:
    """A run's ``waiting`` and ``eta``; both None for a run that waits for nothing."""

    waiting: Waiting | None = None
    eta: datetime | None = None


NOTHING = Outlook()


@dataclass
class Line:
    """What one queue holds, read once per request for all of its runs asked about."""

    queue: Queue | None
    queued: list[Run] = field(default_factory=list)
    active: list[Run] = field(default_factory=list)
    history: list[Run] = field(default_factory=list)
    complete: bool = True
    """Whether ``queued`` is the whole line (it is left empty for a line of ``LINE_LIMIT``
    runs or more)."""
    _places: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.queued.sort(key=lambda run: (int(run.priority), run.seq))
        self._places = {run.id: index for index, run in enumerate(self.queued)}

    def ahead_of(self, run: Run) -> list[Run] | None:
        """The runs in line before ``run``; None when ``run`` is not in this line (moved on) or
        the line was too long to read whole."""
        index = self._places.get(run.id) if self.complete else None
        return None if index is None else self.queued[:index]

    @property
    def median(self) -> float | None:
        return median_duration(self.history)

    def last_claim(self) -> datetime | None:
        """When this queue last saw a claim (its active and recent runs'): None if unknown."""
        times = [run.claimed_at or run.started_at for run in [*self.active, *self.history]]
        return max((t for t in times if t is not None), default=None)


# -- pure pieces -----------------------------------------------------------------------------
def median_duration(finished: Iterable[Run], minimum: int = MIN_HISTORY) -> float | None:
    """Median seconds from start to end of the runs that started; None with fewer than ``minimum``."""
    durations = [
        (run.finished_at - run.started_at).total_seconds()
        for run in finished
        if run.started_at is not None and run.finished_at is not None
    ]
    return statistics.median(durations) if len(durations) >= minimum else None


def estimate_start(
    now: datetime, max_jobs: int, active: Sequence[Run], ahead: int, median: float | None
) -> datetime | None:
    """When a run with ``ahead`` runs before it in line may start (see the module's method)."""
    if median is None or max_jobs < 1:
        return None
    ends = [max(median - _ran_for(run, now), 0.0) for run in active]
    heapq.heapify(ends)
    clock = 0.0
    for _ in range(ahead + 1):  # the runs ahead, then this one, each takes the first free slot
        while len(ends) >= max_jobs:
            clock = max(clock, heapq.heappop(ends))
        heapq.heappush(ends, clock + median)
    return now + timedelta(seconds=clock)


def _ran_for(run: Run, now: datetime) -> float:
    return 0.0 if run.started_at is None else max((now - run.started_at).total_seconds(), 0.0)


def ahead_reason(ahead: Sequence[Run]) -> str:
    """``3 runs ahead of it (1 critical, 2 high)``."""
    counts = Counter(Priority(run.priority) for run in ahead)
    split = ", ".join(f"{counts[p]} {p.label}" for p in sorted(counts))
    return f"{_runs(len(ahead))} ahead of it ({split})"


def _runs(count: int) -> str:
    return f"{count} run{'' if count == 1 else 's'}"


def _ago(then: datetime, now: datetime) -> str:
    seconds = max(int((now - then).total_seconds()), 0)
    if seconds < 120:
        return f"{seconds}s ago"
    return f"{seconds // 60} min ago" if seconds < 7200 else f"{seconds // 3600} h ago"


def _streak(run: Run, events: Sequence[RunEvent] | None) -> tuple[tuple[RunEvent, ...], datetime | None]:
    """The latest events that left the run in its present state (at most ``EVENTS_KEPT``), and
    when it entered that state; without events (the list), no events and its latest move."""
    if events is None:
        return (), run.updated_at
    start = len(events)
    while start > 0 and events[start - 1].to_state is run.state:
        start -= 1
    kept = tuple(events[max(start, len(events) - EVENTS_KEPT) :])
    return kept, events[start].at if start < len(events) else run.updated_at


def _waiting(kind: WaitingKind, reason: str, run: Run, events: Sequence[RunEvent] | None) -> Waiting:
    kept, since = _streak(run, events)
    return Waiting(kind=kind, reason=reason, since=since, events=kept)


# -- the service -----------------------------------------------------------------------------
class WaitingService:
    """The routes' entry point: ``of_run`` for one run (live), ``of_page`` for a listing."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.retries = Retries(ctx, Transitions(ctx))
        self.builds = BuildService(ctx)

    def of_run(self, run: Run, events: Sequence[RunEvent]) -> Outlook:
        """``waiting`` and ``eta`` of one run, asking its target and reading its build log."""
        if run.state not in WAITS:
            return NOTHING
        return _Request(self, live=True).outlook(run, events)

    def of_page(self, runs: Sequence[Run]) -> dict[str, Outlook]:
        """``waiting`` and ``eta`` of the runs of a listing that wait, by id: each queue read once."""
        request = _Request(self, live=False, page=runs)
        return {run.id: request.outlook(run, None) for run in runs if run.state in WAITS}


class _Request:
    """One request's reads: each queue's line, and the agent-wide count, read at most once."""

    def __init__(self, service: WaitingService, *, live: bool, page: Sequence[Run] = ()) -> None:
        self.service = service
        self.ctx = service.ctx
        self.live = live
        self._page = page
        self._page_places: dict[str, int] | None = None
        self.now = self.ctx.clock()
        self._lines: dict[str, Line] = {}
        self._queues: dict[str, Queue | None] = {}
        self._agent_active: int | None = None

    def outlook(self, run: Run, events: Sequence[RunEvent] | None) -> Outlook:
        if run.state is RunState.QUEUED:
            return self._queued(run, events)
        if run.state is RunState.PREEMPTED:
            reason = f"{run.reason}; going back in line at its place"
            return Outlook(_waiting("target", reason, run, events))
        if self.service.retries.backing_off(run):
            return Outlook(
                _waiting("retry", f"backing off before a retry: {run.reason}", run, events),
                eta=run.lease_expires_at,
            )
        if run.state is RunState.CLAIMED:
            return Outlook(_waiting("dispatcher", f"{run.reason}; being launched", run, events))
        if run.state is RunState.BUILDING:
            return Outlook(_waiting("building", self._building(run), run, events))
        return Outlook(self._starting(run, events))

    # -- queued ------------------------------------------------------------------------------
    def _queued(self, run: Run, events: Sequence[RunEvent] | None) -> Outlook:
        line = self._line(run.queue)
        ahead = line.ahead_of(run)
        if ahead is None:
            return self._far_back(run, line, events)
        queue = line.queue
        eta = (
            estimate_start(self.now, queue.max_jobs, line.active, len(ahead), line.median) if queue else None
        )
        return Outlook(_waiting(*self._holds(line, ahead), run, events), eta=eta)

    def _far_back(self, run: Run, line: Line, events: Sequence[RunEvent] | None) -> Outlook:
        """A run not in the line as read: claimed since (it waits no more for its line), or in
        a line longer than ``LINE_LIMIT``, where the store's count of those ahead stands in."""
        place = None if line.complete else self._place(run)
        if place is None:
            return NOTHING
        queue, ahead = line.queue, place - 1
        eta = estimate_start(self.now, queue.max_jobs, line.active, ahead, line.median) if queue else None
        return Outlook(_waiting("ahead", f"{_runs(ahead)} ahead of it", run, events), eta=eta)

    def _place(self, run: Run) -> int | None:
        """``run``'s place in line from the store: for a listing, the places of all its queued
        runs in one call (``RunStore.positions``: one read of each line, not one per run)."""
        if not self._page:
            return self.ctx.store.position(run)
        if self._page_places is None:
            queued = [listed for listed in self._page if listed.state is RunState.QUEUED]
            self._page_places = self.ctx.store.positions(queued)
        return self._page_places.get(run.id)

    def _holds(self, line: Line, ahead: list[Run]) -> tuple[WaitingKind, str]:
        queue, active = line.queue, len(line.active)
        if ahead:
            return "ahead", ahead_reason(ahead)
        if queue is not None and not queue.has_free_slot(active):
            return "queue_full", f"queue at max_jobs {active}/{queue.max_jobs}"
        cap = self.ctx.dispatch_cap
        if cap is not None and queue is not None and serves(self.ctx, queue):
            in_use = self._agent_in_use()
            if in_use >= cap:
                return (
                    "agent_full",
                    f"agent-wide max_jobs reached: {in_use}/{cap} runs active across its queues",
                )
        return "dispatcher", self._unclaimed(line)

    def _unclaimed(self, line: Line) -> str:
        queue = line.queue
        if queue is not None and queue.dispatch == "agents":
            return "next in line: waiting for an agent to claim it (the queue has dispatch: agents)"
        slots = (
            ""
            if queue is None or queue.max_jobs == -1
            else f", {queue.max_jobs - len(line.active)} of {queue.max_jobs} slots free"
        )
        last = line.last_claim()
        seen = f" (last claim on this queue {_ago(last, self.now)})" if last is not None else ""
        return f"next in line{slots}: waiting for a dispatcher to claim it{seen}"

    def _agent_in_use(self) -> int:
        if self._agent_active is None:
            store = self.ctx.store
            served = [q.name for q in store.list_queues() if serves(self.ctx, q)]
            self._agent_active = sum(store.count_active(name) for name in served)
        return self._agent_active

    def _queue(self, name: str) -> Queue | None:
        if name not in self._queues:
            try:
                self._queues[name] = self.ctx.store.get_queue(name)
            except NotFound:  # deleted: its runs are readable, its slots are gone
                self._queues[name] = None
        return self._queues[name]

    def _line(self, name: str) -> Line:
        if name not in self._lines:
            store = self.ctx.store
            short = store.count_queued(name) < LINE_LIMIT
            queued = store.list_runs(queue=name, states=[RunState.QUEUED], limit=LINE_LIMIT) if short else []
            self._lines[name] = Line(
                queue=self._queue(name),
                queued=queued,
                active=store.list_runs(queue=name, states=sorted(ACTIVE), limit=ACTIVE_LIMIT),
                history=store.list_runs(queue=name, states=_HISTORY_STATES, limit=HISTORY_RUNS),
                complete=short and len(queued) < LINE_LIMIT,  # it may have grown since the count
            )
        return self._lines[name]

    # -- launched, not started -----------------------------------------------------------------
    def _building(self, run: Run) -> str:
        if not self.live:
            return "image building"
        try:
            text, _ = self.service.builds.logs(run, 0)
        except LaunchqError:  # the log is a nicety here: the reason stands without it
            return "image building"
        step = latest_step(text)
        return f"image building ({step[:STEP_CHARS]})" if step else "image building"

    def _starting(self, run: Run, events: Sequence[RunEvent] | None) -> Waiting:
        queue = self._queue(run.queue)
        if queue is None:
            return _waiting("target", "submitted; waiting for the target to start it", run, events)
        fallback = f"submitted to {queue.resource}; waiting for it to start"
        target = queue_target(self.ctx.targets, queue) if self.live else None
        if target is None or not target.sees(run):
            return _waiting("target", fallback, run, events)
        try:
            status = target.status(run)
        except LaunchqError:
            return _waiting("target", fallback, run, events)
        detail = status.detail.strip()
        if "admission" in detail.lower():
            words = "waiting for Kueue admission" if "kueue" in detail.lower() else detail
            return _waiting("admission", words, run, events)
        if status.state != "starting":
            detail = f"the job is {status.state}" + (f": {detail}" if detail else "")
        return _waiting("target", f"target says: {detail}" if detail else fallback, run, events)
