"""The agent's own background threads: waiter, heartbeat and log shipper.

Waiter: long-poll where the server can, short poll with back-off where it cannot.
``POST /agents/wait`` names the agent's queues that have a queued run and a free slot.
A local ``launchq serve`` hears its own doorbell in-process, so it holds an empty answer for
up to ``wait_seconds`` (20 s) and answers the moment a run is enqueued or a slot frees: the
agent learns of work within milliseconds at one request per 20 s when idle. A Lambda
function cannot wait for a ring (no in-process doorbell, and holding a function costs its
whole duration), so it answers at once with ``long_poll: false`` and the agent backs off
1, 2, 4, 8, 15, 15 ... s while idle: a new run waits at most 15 s for an idle agent, and
the waiter of an idle agent costs four requests a minute (its dispatcher's and reconciler's
5 s tick, ``launchq.remote.wiring``, a handful more per queue). An answer with work
rings the agent's in-process doorbell, resets the back-off and pauses ``BUSY_PAUSE_SECONDS``
(the agent may be at its own ``max_jobs``, and the server's answer stays the same until
something changes). The dispatcher's own timer (``LAUNCHQ_POLL_INTERVAL``) stays the net.

Heartbeat: a claim (``claimed``, ``building``) carries a lease, by default 120 s for a remote
agent (``LAUNCHQ_LEASE_SECONDS``, 10..3600). The heartbeat renews every claim the agent holds
every third of the lease (40 s), so a renewal can fail twice before the lease runs out; an
agent that dies or loses its network stops renewing and the control plane's reconciler puts
its unsubmitted runs back in line within one lease. A claim whose launch gave up (the target
could not be asked) is not renewed either, so it too goes back in line, as the dispatcher
expects (``RemoteRunStore.claim``). Submitted runs hold no lease: their jobs
are the target's, and the next agent that sees them (``Target.sees``) re-adopts them.

Log shipper: every ``SHIP_EVERY_SECONDS`` (2 s), and once more when the run ends, the new
output of every job this agent can see is shipped (``POST /agents/runs/{id}/logs``) in
chunks of at most 256 KiB, at character offsets in the whole log; the server keeps the
last 64 KiB. A chunk shipped twice (a retry, an agent restarted on the same data directory)
changes nothing on the server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.domain.models import Run
from launchq.domain.states import TERMINAL, RunState
from launchq.errors import LaunchqError
from launchq.ports import Target
from launchq.remote.client import AgentClient
from launchq.remote.store import RemoteRunStore
from launchq.service.context import utcnow
from launchq.service.targets import TargetCatalog

log = logging.getLogger(__name__)
T = TypeVar("T")

LONG_POLL_SECONDS = 20.0
BUSY_PAUSE_SECONDS = 1.0
BACKOFF_FIRST_SECONDS, BACKOFF_MAX_SECONDS = 1.0, 15.0
SHIP_EVERY_SECONDS = 2.0
MAX_CHUNK_CHARS = 256 * 1024
_SHIPPED = (RunState.STARTING, RunState.RUNNING, RunState.STOPPING)


class Backoff:
    """Pauses that double while nothing happens: 1, 2, 4, 8, 15, 15 ... s; ``reset`` on work."""

    def __init__(self, first: float = BACKOFF_FIRST_SECONDS, cap: float = BACKOFF_MAX_SECONDS) -> None:
        self.first, self.cap = first, cap
        self._next = first

    def next(self) -> float:
        pause, self._next = self._next, min(self._next * 2, self.cap)
        return pause

    def reset(self) -> None:
        self._next = self.first


class Waiter:
    """Asks the control plane which queues have work and rings the agent's doorbell with them."""

    def __init__(
        self,
        client: AgentClient,
        queues: list[str],
        doorbell: InProcessDoorbell,
        *,
        wait_seconds: float = LONG_POLL_SECONDS,
        busy_pause: float = BUSY_PAUSE_SECONDS,
        backoff: Backoff | None = None,
    ) -> None:
        self.client = client
        self.queues = queues
        self.doorbell = doorbell
        self.wait_seconds = wait_seconds
        self.busy_pause = busy_pause
        self.backoff = backoff or Backoff()

    def step(self) -> float:
        """Ask once, ring what has work; the pause before the next ask (0: ask again now)."""
        try:
            ready, long_poll = self.client.wait(self.queues, self.wait_seconds)
        except LaunchqError as exc:
            pause = self.backoff.next()
            log.warning("asking for work failed (%s); again in %gs", exc, pause)
            return pause
        if ready:
            self.backoff.reset()
            for queue in ready:
                self.doorbell.ring(queue)
            return self.busy_pause
        return 0.0 if long_poll else self.backoff.next()


class Heartbeat:
    """Renews the agent's claims every third of ``lease``."""

    def __init__(self, store: RemoteRunStore, lease: timedelta) -> None:
        self.store = store
        self.lease = lease
        self.interval = lease.total_seconds() / 3

    def beat(self) -> None:
        try:
            lost = self.store.renew_held(self.lease, utcnow())
        except LaunchqError as exc:  # the next beat retries, before the lease runs out
            log.warning("could not renew the agent's claims: %s", exc)
            return
        for run_id in lost:
            log.warning("run %s: its claim expired and moved on; this agent's reports on it will be refused",
                        run_id)  # fmt: skip


@dataclass
class _Shipping:
    """Where one job's log stands: read up to ``read_at`` (the target's offset), shipped up
    to ``shipped`` (characters in the whole log)."""

    run: Run
    read_at: int = 0
    shipped: int = 0


class LogShipper:
    """Ships the job logs of the runs this agent's targets see (see the module docstring)."""

    def __init__(self, client: AgentClient, store: RemoteRunStore, targets: TargetCatalog) -> None:
        self.client = client
        self.store = store
        self.targets = targets
        self._lock = threading.Lock()
        self._runs: dict[str, _Shipping] = {}
        self._resources: dict[str, str] = {}  # queue -> resource
        store.observe(self.observed)

    def observed(self, run: Run) -> None:
        """Follow a run the store handed out: from its submission to its end."""
        if not run.handle:
            return
        with self._lock:
            entry = self._runs.get(run.id)
            if entry is not None:
                entry.run = run
            elif run.state in _SHIPPED:
                self._runs[run.id] = _Shipping(run)

    def ship_all(self) -> None:
        """Ship what every followed job wrote since the last pass; forget the ended ones."""
        with self._lock:
            entries = list(self._runs.values())
        for entry in entries:
            try:
                done = self._ship(entry)
            except LaunchqError as exc:  # the next pass retries from where this one stood
                log.warning("could not ship the log of run %s: %s", entry.run.id, exc)
                continue
            if done:
                with self._lock:
                    self._runs.pop(entry.run.id, None)

    def _ship(self, entry: _Shipping) -> bool:
        """Ship ``entry``'s new output; whether it is done with (ended and shipped, or a job of
        another host: dropped, and dropped again if a listing brings it back, at no request)."""
        run = entry.run
        target = self._target(run)
        if not target.sees(run):
            return True
        while True:
            text, next_at = target.logs(run, entry.read_at)
            if not text:
                break
            start = entry.shipped
            try:
                for at in range(0, len(text), MAX_CHUNK_CHARS):
                    piece = text[at : at + MAX_CHUNK_CHARS]
                    self.client.ship_log(run.id, start + at, piece)
            except LaunchqError:
                entry.shipped = start  # re-read and re-shipped next pass; the server merges
                raise
            entry.read_at, entry.shipped = next_at, start + len(text)
        return run.state in TERMINAL

    def _target(self, run: Run) -> Target:
        resource = self._resources.get(run.queue)
        if resource is None:
            resource = self._resources[run.queue] = self.store.get_queue(run.queue).resource
        return self.targets.get(resource)


def every(seconds: float, stop: threading.Event, body: Callable[[], None], name: str) -> threading.Thread:
    """Start a daemon thread calling ``body`` every ``seconds`` until ``stop`` is set."""

    def loop() -> None:
        while not stop.wait(seconds):
            _guarded(body)

    thread = threading.Thread(target=loop, name=f"launchq-{name}", daemon=True)
    thread.start()
    return thread


def paced(stop: threading.Event, step: Callable[[], float], name: str) -> threading.Thread:
    """Start a daemon thread calling ``step`` until ``stop``, pausing as long as it returns."""

    def loop() -> None:
        while not stop.is_set():
            pause = _guarded(step)
            pause = BUSY_PAUSE_SECONDS if pause is None else pause  # a failed pass must not spin
            if pause:
                stop.wait(pause)

    thread = threading.Thread(target=loop, name=f"launchq-{name}", daemon=True)
    thread.start()
    return thread


def _guarded(body: Callable[[], T]) -> T | None:
    """Run one pass; a thread must outlive a bad one (the error is logged in full)."""
    try:
        return body()
    except Exception:
        log.exception("agent thread pass failed; going on")
        return None
