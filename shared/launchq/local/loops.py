"""Background loops of local mode: the dispatcher (doorbell-driven) and the reconciler (timer)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.bootstrap import Services
from launchq.errors import LaunchqError

log = logging.getLogger(__name__)


class Loops:
    """Runs the dispatcher and reconciler in daemon threads until ``stop``.

    ``queues`` limits the dispatcher to some queues (``launchq agent -q``); None means all.
    ``max_jobs`` is an agent-wide cap on active runs across those queues, on top of each
    queue's own ``max_jobs`` (W&B's ``launch-agent --max-jobs``); -1 or None = no cap.
    """

    def __init__(
        self,
        services: Services,
        doorbell: InProcessDoorbell,
        poll_interval: float,
        queues: Iterable[str] | None = None,
        max_jobs: int | None = None,
    ) -> None:
        self.services = services
        self.doorbell = doorbell
        self.poll_interval = poll_interval
        self.queues = list(queues) if queues is not None else None
        self.max_jobs = None if max_jobs in (None, -1) else max_jobs
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for name, body in (("dispatcher", self._dispatch_loop), ("reconciler", self._reconcile_loop)):
            thread = threading.Thread(target=self._guard(body), name=f"launchq-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self.doorbell.ring("")  # wake the dispatcher so it sees the stop
        for thread in self._threads:
            thread.join(timeout=10)

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
        names = [q.name for q in self.services.queues.all()] if not rung else sorted(rung - {""})
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

    def _reconcile_loop(self) -> None:
        while not self._stop.is_set():
            self.services.reconciler.tick()
            self._stop.wait(self.poll_interval)
