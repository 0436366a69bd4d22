"""In-process doorbell: wakes the dispatcher thread of a local ``launchq serve``/agent."""

from __future__ import annotations

import threading

from launchq.ports import Doorbell


class InProcessDoorbell(Doorbell):
    """Collects rung queue names; ``wait`` hands them to the dispatcher loop.

    Rings coalesce: ten enqueues onto one queue before the dispatcher wakes are one wake-up,
    which is fine because the dispatcher claims until the queue has no free slot or no run.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: set[str] = set()

    def ring(self, queue: str) -> None:
        with self._cond:
            self._pending.add(queue)
            self._cond.notify_all()

    def wait(self, timeout: float) -> set[str]:
        """Block until a ring or ``timeout`` seconds; return (and clear) the rung queues."""
        with self._cond:
            if not self._pending:
                self._cond.wait(timeout)
            rung, self._pending = self._pending, set()
            return rung


class NullDoorbell(Doorbell):
    """For processes that never dispatch (e.g. a CLI one-shot); polling picks the work up."""

    def ring(self, queue: str) -> None:
        return None
