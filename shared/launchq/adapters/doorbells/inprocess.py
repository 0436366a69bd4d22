"""In-process doorbell: wakes the dispatcher thread of a local ``launchq serve``/agent."""

from __future__ import annotations

import threading
from collections.abc import Collection

from launchq.ports import Doorbell


class InProcessDoorbell(Doorbell):
    """Collects rung queue names; ``wait`` hands them to the dispatcher loop.

    Rings coalesce: ten enqueues onto one queue before the dispatcher wakes are one wake-up,
    which is fine because the dispatcher claims until the queue has no free slot or no run.

    Other listeners (agents long-polling ``POST /agents/wait``) must not take rings from the
    dispatcher, so they do not consume: rings are numbered, each queue remembers the number
    of its last ring, and ``wait_rung`` waits for a ring past the number ``mark`` gave, which
    also catches a ring that came between the listener's look at the store and its wait.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: set[str] = set()
        self._rings = 0
        self._last_ring: dict[str, int] = {}  # queue -> number of the ring that last rang it
        self._released = False

    def ring(self, queue: str) -> None:
        with self._cond:
            self._pending.add(queue)
            self._rings += 1
            self._last_ring[queue] = self._rings
            self._cond.notify_all()

    def mark(self) -> int:
        """The number of the latest ring, to pass to ``wait_rung``."""
        with self._cond:
            return self._rings

    def wait_rung(self, queues: Collection[str], after: int, timeout: float) -> set[str]:
        """Block until one of ``queues`` is rung after ring number ``after``, or ``timeout``
        seconds; return those of ``queues`` rung since (empty on a timeout). Takes nothing
        from ``wait``: every listener and the dispatcher see every ring."""
        with self._cond:
            self._cond.wait_for(lambda: self._released or self._rung_since(queues, after), timeout)
            return self._rung_since(queues, after)

    def release_listeners(self) -> None:
        """Stop holding ``wait_rung`` callers, now and from now on (the server is shutting
        down: a long poll held 20 s would outlast its graceful shutdown)."""
        with self._cond:
            self._released = True
            self._cond.notify_all()

    def _rung_since(self, queues: Collection[str], after: int) -> set[str]:
        return {queue for queue in queues if self._last_ring.get(queue, 0) > after}

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
