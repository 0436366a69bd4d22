"""``MemoryRunStore``: an in-process ``RunStore`` for tests and single-process local use.

Same semantics as the SQLite store, behind one ``threading.Lock``. Each queue keeps a heap
of its queued runs keyed by (priority, seq), so a claim costs O(log n) in queue depth.
Records are copied in and out, so callers never share a mutable model with the store.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable
from datetime import datetime

from launchq.adapters.stores import common
from launchq.adapters.stores.memory_keys import MemoryKeys
from launchq.domain.jobs import Job, JobSpec, stored_version, unknown_job
from launchq.domain.models import Queue, Run, RunEvent, RunUpdate, Schedule
from launchq.domain.states import RunState
from launchq.errors import AlreadyExists, Conflict, NotFound, StaleWrite
from launchq.ports import LogTail, RunStore


class MemoryRunStore(MemoryKeys, RunStore):
    """A ``RunStore`` held in dictionaries; everything is lost with the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, Queue] = {}
        self._runs: dict[str, Run] = {}  # insertion order == seq order
        self._queue_runs: dict[str, list[str]] = {}  # run ids per queue, seq order
        self._line: dict[str, list[tuple[int, int, str]]] = {}  # heap of queued runs per queue
        self._active: dict[str, set[str]] = {}  # run ids holding a slot, per queue
        self._idempotency: dict[tuple[str, str], str] = {}
        self._events: dict[str, list[RunEvent]] = {}
        self._log_tails: dict[str, LogTail] = {}
        self._schedules: dict[str, Schedule] = {}
        self._jobs: dict[str, list[Job]] = {}  # versions per name, oldest first (index = version - 1)
        self._seq = 0

    # -- plumbing (call with the lock held) ---------------------------------------------
    def _queue(self, name: str) -> Queue:
        try:
            return self._queues[name]
        except KeyError:
            raise NotFound(f"queue {name!r} does not exist", field="queue") from None

    def _run(self, run_id: str) -> Run:
        try:
            return self._runs[run_id]
        except KeyError:
            raise NotFound(f"run {run_id!r} does not exist", field="run") from None

    def _schedule(self, name: str) -> Schedule:
        try:
            return self._schedules[name]
        except KeyError:
            raise NotFound(f"schedule {name!r} does not exist", field="schedule") from None

    def _save_moved(self, run: Run, event: RunEvent) -> None:
        """Store a run whose state changed, keeping the line and active sets in step."""
        self._runs[run.id] = run
        self._events[run.id].append(event)
        active = self._active.setdefault(run.queue, set())
        if run.state.active:
            active.add(run.id)
        else:
            active.discard(run.id)
        if run.state is RunState.QUEUED:
            priority, seq = common.line_key(run)
            heapq.heappush(self._line.setdefault(run.queue, []), (priority, seq, run.id))

    def _first_queued(self, queue: str) -> Run | None:
        """The queue's first queued run, dropping heap entries of runs that left the line."""
        line = self._line.get(queue, [])
        while line:
            _, _, run_id = line[0]
            run = self._runs[run_id]
            if run.state is RunState.QUEUED:
                return run
            heapq.heappop(line)
        return None

    # -- queues -------------------------------------------------------------------------
    def create_queue(self, queue: Queue) -> None:
        with self._lock:
            if queue.name in self._queues:
                raise AlreadyExists(f"queue {queue.name!r} already exists", field="name")
            self._queues[queue.name] = queue.model_copy(deep=True)

    def get_queue(self, name: str) -> Queue:
        with self._lock:
            return self._queue(name).model_copy(deep=True)

    def list_queues(self) -> list[Queue]:
        with self._lock:
            return [self._queues[name].model_copy(deep=True) for name in sorted(self._queues)]

    def update_queue(self, queue: Queue) -> Queue:
        with self._lock:
            current = self._queue(queue.name)
            if current.version != queue.version:
                raise StaleWrite(
                    f"queue {queue.name!r} is at version {current.version}, not {queue.version}",
                    field="version",
                )
            stored = queue.model_copy(update={"version": queue.version + 1}, deep=True)
            self._queues[queue.name] = stored
            return stored.model_copy(deep=True)

    def delete_queue(self, name: str) -> None:
        with self._lock:
            self._queue(name)
            blocking = sum(
                1
                for run_id in self._queue_runs.get(name, [])
                if self._runs[run_id].state in common.LIVE_OR_WAITING
            )
            if blocking:
                raise Conflict(f"queue {name!r} still holds {blocking} queued or active runs", field="name")
            del self._queues[name]
            self._line.pop(name, None)

    # -- runs ---------------------------------------------------------------------------
    def add_run(self, run: Run) -> tuple[Run, bool]:
        with self._lock:
            self._queue(run.queue)
            if run.idempotency_key is not None:
                existing = self._idempotency.get((run.queue, run.idempotency_key))
                if existing is not None:
                    return self._runs[existing].model_copy(deep=True), False
            if run.id in self._runs:
                raise AlreadyExists(f"run {run.id!r} already exists", field="id")
            self._seq += 1
            stored, event = common.enqueued(run, self._seq)
            self._runs[stored.id] = stored
            self._queue_runs.setdefault(stored.queue, []).append(stored.id)
            self._events[stored.id] = []
            if stored.idempotency_key is not None:
                self._idempotency[(stored.queue, stored.idempotency_key)] = stored.id
            self._save_moved(stored, event)
            return stored.model_copy(deep=True), True

    def get_run(self, run_id: str) -> Run:
        with self._lock:
            return self._run(run_id).model_copy(deep=True)

    def list_runs(
        self,
        queue: str | None = None,
        states: Iterable[RunState] | None = None,
        limit: int = 1000,
    ) -> list[Run]:
        wanted = None if states is None else frozenset(RunState(state) for state in states)
        with self._lock:
            ids = self._queue_runs.get(queue, []) if queue is not None else list(self._runs)
            found: list[Run] = []
            for run_id in reversed(ids):
                if len(found) >= limit:
                    break
                run = self._runs[run_id]
                if wanted is None or run.state in wanted:
                    found.append(run.model_copy(deep=True))
            return found

    def position(self, run: Run) -> int | None:
        with self._lock:
            stored = self._runs.get(run.id)
            if stored is None or stored.state is not RunState.QUEUED:
                return None
            key = common.line_key(stored)
            ahead = sum(
                1
                for run_id in self._queue_runs[stored.queue]
                if self._runs[run_id].state is RunState.QUEUED and common.line_key(self._runs[run_id]) < key
            )
            return ahead + 1

    def positions(self, runs: Iterable[Run]) -> dict[str, int]:
        wanted = {run.id for run in runs}
        with self._lock:
            queues = {self._runs[run_id].queue for run_id in wanted if run_id in self._runs}
            places: dict[str, int] = {}
            for queue in queues:
                line = sorted(
                    (common.line_key(run), run.id)
                    for run in map(self._runs.__getitem__, self._queue_runs.get(queue, []))
                    if run.state is RunState.QUEUED
                )
                places.update(
                    (run_id, place) for place, (_, run_id) in enumerate(line, 1) if run_id in wanted
                )
            return places

    def count_active(self, queue: str) -> int:
        with self._lock:
            return len(self._active.get(queue, ()))

    def count_queued(self, queue: str) -> int:
        with self._lock:
            return sum(1 for r in self._runs.values() if r.queue == queue and r.state == RunState.QUEUED)

    def claim(
        self, queue: str, now: datetime, lease_until: datetime, claimer: str = "dispatcher"
    ) -> Run | None:
        with self._lock:
            settings = self._queue(queue)
            if not settings.has_free_slot(len(self._active.get(queue, ()))):
                return None
            first = self._first_queued(queue)
            if first is None:
                return None
            heapq.heappop(self._line[queue])
            run, event = common.claimed(first, now, lease_until, claimer)
            self._save_moved(run, event)
            return run.model_copy(deep=True)

    def transition(
        self,
        run_id: str,
        expected: RunState,
        to: RunState,
        reason: str,
        now: datetime,
        update: RunUpdate | None = None,
        expected_version: int | None = None,
    ) -> Run:
        common.ensure_allowed(expected, to)
        with self._lock:
            run, event = common.transitioned(
                self._run(run_id),
                expected,
                to,
                reason=reason,
                now=now,
                update=update,
                expected_version=expected_version,
            )
            self._save_moved(run, event)
            return run.model_copy(deep=True)

    def renew_lease(self, run_id: str, version: int, lease_until: datetime) -> Run:
        with self._lock:
            run = common.renewed(self._run(run_id), version, lease_until)
            self._runs[run_id] = run
            return run.model_copy(deep=True)

    def save_log_tail(self, run_id: str, tail: LogTail) -> None:
        with self._lock:
            self._run(run_id)
            self._log_tails[run_id] = tail.model_copy()

    def log_tail(self, run_id: str) -> LogTail | None:
        with self._lock:
            self._run(run_id)
            tail = self._log_tails.get(run_id)
            return None if tail is None else tail.model_copy()

    def events(self, run_id: str) -> list[RunEvent]:
        with self._lock:
            self._run(run_id)
            return [event.model_copy(deep=True) for event in self._events[run_id]]

    # -- launch jobs --------------------------------------------------------------------
    def _versions(self, name: str) -> list[Job]:
        try:
            return self._jobs[name]
        except KeyError:
            raise unknown_job(name) from None

    def add_job_version(self, spec: JobSpec, now: datetime) -> Job:
        with self._lock:
            versions = self._jobs.setdefault(spec.name, [])
            job = stored_version(spec, len(versions) + 1, now)
            versions.append(job)
            return job.model_copy(deep=True)

    def get_job(self, name: str, version: int | None = None) -> Job:
        with self._lock:
            versions = self._versions(name)
            if version is None:
                return versions[-1].model_copy(deep=True)
            if not 1 <= version <= len(versions):
                raise unknown_job(name, version)
            return versions[version - 1].model_copy(deep=True)

    def list_jobs(self) -> list[Job]:
        with self._lock:
            return [self._jobs[name][-1].model_copy(deep=True) for name in sorted(self._jobs)]

    def list_job_versions(self, name: str) -> list[Job]:
        with self._lock:
            return [job.model_copy(deep=True) for job in reversed(self._versions(name))]

    # -- schedules ----------------------------------------------------------------------
    def create_schedule(self, schedule: Schedule) -> None:
        with self._lock:
            if schedule.name in self._schedules:
                raise AlreadyExists(f"schedule {schedule.name!r} already exists", field="name")
            self._schedules[schedule.name] = schedule.model_copy(deep=True)

    def get_schedule(self, name: str) -> Schedule:
        with self._lock:
            return self._schedule(name).model_copy(deep=True)

    def list_schedules(self) -> list[Schedule]:
        with self._lock:
            return [self._schedules[name].model_copy(deep=True) for name in sorted(self._schedules)]

    def delete_schedule(self, name: str) -> None:
        with self._lock:
            self._schedule(name)
            del self._schedules[name]

    def advance_schedule(
        self, name: str, expected_next: datetime, next_fire_at: datetime, last_run_id: str
    ) -> None:
        with self._lock:
            schedule = self._schedule(name)
            advanced = common.advanced_schedule(schedule, expected_next, next_fire_at, last_run_id)
            self._schedules[name] = advanced
