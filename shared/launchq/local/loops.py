"""Background loops of local mode: the dispatcher (doorbell-driven), the exit settler (driven
by the targets' exit notices, ``Target.watch``, and the builder's build-end notices,
``Builder.watch``) and the reconciler (timer).

A job that ends is settled by the exit thread within milliseconds: the run moves to its
final state through the one transition step, which frees the slot and rings the doorbell,
and the dispatcher thread starts the next run at once. The reconciler's tick is the safety
net (a lost notice, jobs re-adopted after a restart); a notice racing it is harmless, as
every move is a conditional write and the reconciler's moves settle.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from queue import Empty, SimpleQueue

from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.bootstrap import Services
from launchq.domain.states import RunState
from launchq.errors import LaunchqError
from launchq.ports import BuildNotice, BuildState
from launchq.service.dispatcher import serves

log = logging.getLogger(__name__)

BuildEnd = tuple[str, str, BuildState]
"""(run id, build id, state) of an asynchronous build that ended (``Builder.watch``)."""

EARLY_FIRST_SECONDS = 0.005
"""First re-check of a job that ended before the dispatcher recorded its start."""
EARLY_LAST_SECONDS = 5.0
"""The longest wait between re-checks; past it the reconciler's tick settles the run."""


class EarlyExits:
    """Runs whose job ended before the dispatcher recorded the start (still ``claimed``).

    A no-op job can exit between ``Target.submit`` and the move to ``starting``; its notice
    then finds nothing to settle. Those runs are looked at again after 5 ms, 10 ms, ... up
    to 5 s (the dispatcher records the start within milliseconds; if it died, the claim
    expires and the reconciler takes over), so nothing spins and nothing waits a full tick.
    """

    def __init__(self) -> None:
        self._due: dict[str, tuple[float, float]] = {}  # run id -> (when, delay that led there)

    def timeout(self) -> float | None:
        """Seconds until the next re-check; None when nothing waits."""
        if not self._due:
            return None
        return max(0.0, min(when for when, _ in self._due.values()) - time.monotonic())

    def due(self) -> list[str]:
        now = time.monotonic()
        return [run_id for run_id, (when, _) in self._due.items() if when <= now]

    def defer(self, run_id: str) -> None:
        delay = self._due.get(run_id, (0.0, EARLY_FIRST_SECONDS / 2))[1] * 2
        if delay > EARLY_LAST_SECONDS:
            del self._due[run_id]
            log.info("run %s: its job ended but its start is not recorded; left to the reconciler", run_id)
            return
        self._due[run_id] = (time.monotonic() + delay, delay)

    def drop(self, run_id: str) -> None:
        self._due.pop(run_id, None)


class Loops:
    """Runs the dispatcher, exit settler and reconciler in daemon threads until ``stop``.

    ``queues`` limits the dispatcher to some queues (``launchq agent -q``); None means all.
    ``max_jobs`` is an agent-wide cap on active runs across those queues, on top of each
    queue's own ``max_jobs`` (W&B's ``launch-agent --max-jobs``); -1 or None = no cap.

    ``dispatch=False`` (``launchq serve --no-dispatch``): no run of any queue is launched,
    followed or settled here, as agents do that work; only the part of the reconciler that
    keeps the line moving without a dispatcher runs: claims whose lease expired (an agent
    that died holding them) go back in line, and due cron schedules enqueue their runs.
    """

    def __init__(
        self,
        services: Services,
        doorbell: InProcessDoorbell,
        poll_interval: float,
        queues: Iterable[str] | None = None,
        max_jobs: int | None = None,
        *,
        dispatch: bool = True,
    ) -> None:
        self.services = services
        self.dispatch = dispatch
        self.doorbell = doorbell
        self.poll_interval = poll_interval
        self.queues = list(queues) if queues is not None else None
        self.max_jobs = None if max_jobs in (None, -1) else max_jobs
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # run ids whose job ended (from the targets' waiters), builds that ended (from the
        # builder's watch); None wakes the thread to stop
        self._exits: SimpleQueue[str | BuildEnd | None] = SimpleQueue()

    def start(self) -> None:
        loops: tuple[tuple[str, Callable[[], None]], ...] = (("claims", self._expiry_loop),)
        if self.dispatch:
            self._watch(self._exits.put)
            loops = (
                ("dispatcher", self._dispatch_loop),
                ("exits", self._exit_loop),
                ("reconciler", self._reconcile_loop),
            )
        for name, body in loops:
            thread = threading.Thread(target=self._guard(body), name=f"launchq-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        if self.dispatch:
            self._watch(None)
        self.doorbell.ring("")  # wake the dispatcher so it sees the stop
        self._exits.put(None)  # and the exit thread
        for thread in self._threads:
            thread.join(timeout=10)

    def _watch(self, notify: Callable[[str | BuildEnd], None] | None) -> None:
        catalog = self.services.ctx.targets
        for resource in catalog.available:
            catalog.get(resource).watch(notify)
        self.services.ctx.builder.watch(None if notify is None else _build_notice(notify))

    def wait(self) -> None:
        self._stop.wait()

    def _guard(self, body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            while not self._stop.is_set():
                try:
                    body()
                except LaunchqError as exc:
                    log.warning("%s", exc)
                    self._stop.wait(self.poll_interval)
                except Exception:  # a loop must outlive one bad pass; the error is logged in full
                    log.exception("background loop failed; retrying")
                    self._stop.wait(self.poll_interval)

        return run

    def _watched(self, rung: set[str]) -> list[str]:
        """The queues to dispatch (the rung ones, else all) and to count against ``max_jobs``.
        Agents queues are not a control plane's: the dispatcher passes over them when rung."""
        if rung:
            names = sorted(rung - {""})
        else:
            names = [q.name for q in self.services.queues.all() if serves(self.services.ctx, q)]
        return [n for n in names if self.queues is None or n in self.queues]

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            rung = self.doorbell.wait(self.poll_interval)
            if self._stop.is_set():
                return
            for queue in self._watched(rung):
                self.services.dispatcher.dispatch(queue, limit=self._room())

    def _room(self) -> int | None:
        if self.max_jobs is None:
            return None
        active = sum(self.services.ctx.store.count_active(q) for q in self._watched(set()))
        return max(self.max_jobs - active, 0)

    def _exit_loop(self) -> None:
        early = EarlyExits()
        while not self._stop.is_set():
            try:
                ended = self._exits.get(timeout=early.timeout())
            except Empty:
                ended = ""  # only re-checks are due
            if ended is None:
                return
            if isinstance(ended, tuple):
                self._settle_build(*ended)
                continue
            for run_id in [*early.due(), *([ended] if ended else [])]:
                self._settle_exit(run_id, early)

    def _settle_build(self, run_id: str, build_id: str, state: BuildState) -> None:
        """Move on at once the run whose asynchronous build ended (the reconciler would, later)."""
        try:
            self.services.state_changes.on_build_state_change(run_id, build_id, state)
        except LaunchqError as exc:  # the reconciler's tick retries
            log.warning("could not resume run %s after its build ended: %s", run_id, exc)

    def _settle_exit(self, run_id: str, early: EarlyExits) -> None:
        """Settle one run whose job ended, as the reconciler would, at once."""
        try:
            run = self.services.state_changes.on_job_state_change(run_id)
        except LaunchqError as exc:  # the reconciler's tick retries; other exits must go on
            log.warning("could not settle run %s after its job ended: %s", run_id, exc)
            early.drop(run_id)
            return
        if run.state is RunState.CLAIMED:
            early.defer(run_id)
        else:
            early.drop(run_id)

    def _reconcile_loop(self) -> None:
        while not self._stop.is_set():
            self.services.reconciler.tick()
            self._stop.wait(self.poll_interval)

    def _expiry_loop(self) -> None:
        """The reconciler's tick without dispatch (``dispatch=False``): expired claims go back
        in line, where an agent's long poll hears them, and due schedules fire."""
        while not self._stop.is_set():
            self.services.reconciler.expire_claims()
            self.services.schedules.fire_due()
            self._stop.wait(self.poll_interval)


def _build_notice(notify: Callable[[str | BuildEnd], None]) -> BuildNotice:
    """The builder's ``(run, build, state)`` notice, queued for the exit thread like a job's end."""

    def ended(run_id: str, build_id: str, state: BuildState) -> None:
        notify((run_id, build_id, state))

    return ended
