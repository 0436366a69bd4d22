"""Enqueueing runs, looking at them and stopping them."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Collection
from typing import Literal

from launchq.config.resolve import resolve_resource_args
from launchq.domain.models import Queue, Run, RunEvent, RunSpec, RunUpdate
from launchq.domain.priority import Priority
from launchq.domain.states import TERMINAL, RunState
from launchq.errors import Conflict, InvalidInput, NotFound, StaleWrite
from launchq.ports import LogTail
from launchq.redaction import redact_chunk
from launchq.service.builds import BuildService, split_build_options
from launchq.service.context import Context
from launchq.service.jobs import JobService, fill_run_spec
from launchq.service.queues import queue_target
from launchq.service.transitions import Transitions

LogSource = Literal["job", "build"]

log = logging.getLogger(__name__)

NOT_ENDED = frozenset(RunState) - TERMINAL
"""The states a run can still leave: what ``stop_queue`` stops when it is not told which."""
STOP_PAGE = 500
"""Runs ``stop_queue`` reads at a time; it reads again until no run it has not tried is left."""

# RunSpec fields added after request hashes were first stored: left out of the hash while
# unset, so a request that does not use them hashes as it always did (a retry that crosses
# an upgrade is still recognised as the same request).
_NEWER_SPEC_FIELDS = ("job", "run_config", "build_context")


def request_hash(queue: str, spec: RunSpec) -> str:
    """Fingerprint of an enqueue request, to tell a retry from a reused idempotency key.

    It is taken over the request as sent: a run from ``NAME`` (the latest job version) retried
    after a new version was created is still the same request, and gets the first run back.
    """
    unset = {name for name in _NEWER_SPEC_FIELDS if getattr(spec, name) is None}
    body = f"{queue}\n{spec.model_dump_json(exclude_unset=False, exclude=unset)}"
    return hashlib.sha256(body.encode()).hexdigest()


def shipped_log(tail: LogTail | None, offset: int) -> tuple[str, int]:
    """``Target.logs`` over the tail an agent shipped: the log from ``offset`` on, and the
    offset to ask for next (``tail.end``). Only the tail is kept: a reader from before it
    gets the whole tail, after a line saying how much is gone. A tail may hold a gap marker
    (a chunk the agent could not ship) that is not as long as the gap: offsets into it are
    counted from its end, so reading from 0, or following from ``next_offset``, is exact;
    a reader starting elsewhere in such a tail may be off by the marker's length."""
    if tail is None or offset >= tail.end:
        return "", offset
    skip = len(tail.text) - (tail.end - offset)  # characters of the tail before ``offset``
    if offset > 0 and skip >= 0:
        return tail.text[skip:], tail.end
    lost = tail.end - len(tail.text) - offset
    gone = f"[... {lost} earlier characters not kept ...]\n" if lost > 0 else ""
    return gone + tail.text, tail.end


def _utf8_size(text: str) -> int:
    return len(text.encode())


def new_run_id() -> str:
    return uuid.uuid4().hex[:16]


class RunService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.builds = BuildService(ctx)
        self.moves = Transitions(ctx)
        self.jobs = JobService(ctx)

    def prepare(self, queue_name: str, spec: RunSpec, idempotency_key: str | None = None) -> Run:
        """Validate ``spec`` against the queue and build the run, without storing it.

        A run from a job (``spec.job``) is filled from the job version it names, which it
        records (``Run.job``); ``run_config`` becomes the job's ``WANDB_CONFIG``. Raises
        NotFound (queue, job) and InvalidInput (anything the user got wrong).
        """
        queue = self.ctx.store.get_queue(queue_name)
        if (
            "priority" in spec.model_fields_set
            and not queue.prioritization
            and spec.priority != Priority.MEDIUM
        ):
            raise InvalidInput(
                f"queue {queue.name!r} does not allow prioritization; leave priority unset", field="priority"
            )
        target = queue_target(self.ctx.targets, queue)  # None: an agent's target checks at launch
        job = self.jobs.resolve(spec.job) if spec.job is not None else None
        filled = fill_run_spec(spec, job)
        resolved, build = split_build_options(queue.resource, resolve_resource_args(queue, filled))
        now = self.ctx.clock()
        run = Run(
            id=new_run_id(),
            queue=queue.name,
            entity=queue.entity,
            spec=filled,
            priority=filled.priority,
            resolved=resolved,
            build=build,
            idempotency_key=idempotency_key,
            request_hash=request_hash(queue.name, spec),
            job=job.ref if job is not None else None,
            created_at=now,
            updated_at=now,
        )
        if target is not None:
            target.validate(self.builds.check(target, filled, run), resolved)
        return run

    def enqueue(self, queue_name: str, spec: RunSpec, idempotency_key: str | None = None) -> tuple[Run, bool]:
        """Store a new queued run and ring the doorbell; returns (run, created).

        The same idempotency key with the same request returns the first run; with a
        different request it is a Conflict. Raises NotFound, InvalidInput, Conflict.
        """
        if idempotency_key is not None and not 0 < len(idempotency_key) <= 256:
            raise InvalidInput("must be 1 to 256 characters", field="Idempotency-Key")
        run = self.prepare(queue_name, spec, idempotency_key)
        stored, created = self.ctx.store.add_run(run)
        if not created and stored.request_hash != run.request_hash:
            raise Conflict("was already used for a different request on this queue", field="Idempotency-Key")
        if created:
            self.ctx.doorbell.ring(stored.queue)
        return stored, created

    def get(self, run_id: str) -> Run:
        return self.ctx.store.get_run(run_id)

    def position(self, run: Run) -> int | None:
        return self.ctx.store.position(run)

    def positions(self, runs: list[Run]) -> dict[str, int]:
        """Places in line of the queued ones of ``runs`` (a page), each queue's line read once."""
        return self.ctx.store.positions([run for run in runs if run.state is RunState.QUEUED])

    def events(self, run_id: str) -> list[RunEvent]:
        return self.ctx.store.events(run_id)

    def find(
        self,
        queue: str | None = None,
        state: RunState | None = None,
        limit: int = 1000,
        entity: str | None = None,
    ) -> list[Run]:
        """Newest first; ``entity`` (an API key's) narrows a listing of every queue to its queues."""
        if queue is not None:
            self.ctx.store.get_queue(queue)
        states = [state] if state else None
        if entity is None or queue is not None:
            return self.ctx.store.list_runs(queue=queue, states=states, limit=limit)
        own = [q.name for q in self.ctx.store.list_queues() if q.entity == entity]
        store = self.ctx.store
        runs = [run for name in own for run in store.list_runs(queue=name, states=states, limit=limit)]
        return sorted(runs, key=lambda run: run.seq, reverse=True)[:limit]

    def logs(self, run_id: str, offset: int = 0, source: LogSource = "job") -> tuple[Run, str, int]:
        """The job's output, or the image build's (``source="build"``); offsets are per source."""
        run = self.ctx.store.get_run(run_id)
        if source == "build":
            text, next_offset = self.builds.logs(run, offset)
            return run, text, next_offset
        if run.started_at is None:
            return run, "", offset
        target = queue_target(self.ctx.targets, self._queue_of(run))
        if target is None:  # an agent's job: what the agent shipped
            text, next_offset = shipped_log(self.ctx.store.log_tail(run.id), offset)
            size: Callable[[str], int] | None = len
        else:
            text, next_offset = target.logs(run, offset)
            size = _utf8_size if target.resource == "local-process" else None  # its offsets are bytes
        text, next_offset = redact_chunk(text, next_offset, size if run.state not in TERMINAL else None)
        return run, text, next_offset

    def stop(self, run_id: str, reason: str = "stop requested") -> Run:
        """A queued run is cancelled; a live one goes to ``stopping`` and its job is told to stop.

        Raises NotFound; Conflict when the run has already ended.
        """
        return self._stop(run_id, reason)[0]

    def replay(self, run_id: str) -> Run:
        """Put a dead-lettered run back in line, at its original place (its priority and seq),
        as a new attempt: the last attempt's times, exit code, job handle and lease are
        cleared; its image, if one was built, is found in the registry again rather than
        rebuilt. Its history keeps the dead letter and says it was replayed. One version-
        checked move through the service step (which rings the queue's doorbell), so two
        replays at once queue it once: the second is a Conflict.

        Raises NotFound (run; its queue, when deleted); Conflict (not dead-lettered).
        """
        run = self.ctx.store.get_run(run_id)
        if run.state is not RunState.DEAD_LETTER:
            raise Conflict(
                f"run {run_id} is {run.state.value}: only a dead_letter run can be replayed", field="state"
            )
        self._queue_of(run)  # NotFound that says the queue was deleted
        reason = f"replayed after dead letter: {run.reason}"[:1000]
        try:
            return self.moves.move(run, RunState.QUEUED, reason, RunUpdate(new_attempt=True), exact=True)
        except StaleWrite:
            raise Conflict(
                f"run {run_id} changed while it was replayed (replayed already?)", field="state"
            ) from None

    def stop_queue(
        self, queue: str, states: Collection[RunState] | None = None, *, reason: str | None = None
    ) -> list[str]:
        """Stop the runs of ``queue`` that are in one of ``states`` (default: every state that
        has not ended); returns the ids of the runs this call stopped, in the order it did.

        Each run goes through ``stop``, the one stop step: a run that moved on between the
        listing and its stop (claimed, started) is re-read and stopped in its new state, one
        that ended meanwhile is skipped, and one already ``stopping`` is not counted again.
        Runs are listed a page at a time, so a queue of any depth is cleared; a run enqueued
        while this runs may be stopped too. Raises NotFound (queue).
        """
        self.ctx.store.get_queue(queue)
        wanted = NOT_ENDED if states is None else frozenset(states) & NOT_ENDED
        listed = sorted(wanted - {RunState.STOPPING})  # a stopping run needs nothing more
        reason = reason or f"stopped with the rest of queue {queue}"
        tried: set[str] = set()
        stopped: list[str] = []
        while listed:
            page = self.ctx.store.list_runs(queue=queue, states=listed, limit=STOP_PAGE)
            fresh = [run.id for run in page if run.id not in tried]
            if not fresh:
                return stopped
            tried.update(fresh)
            stopped += [run_id for run_id in fresh if self._stop_if_live(run_id, reason)]
        return stopped

    def _stop_if_live(self, run_id: str, reason: str) -> bool:
        """``stop``, for one run of a listing: False when it had ended or was stopping already."""
        try:
            return self._stop(run_id, reason)[1]
        except Conflict as exc:  # it ended between the listing and now (or kept moving)
            log.info("run %s not stopped: %s", run_id, exc)
            return False

    def _stop(self, run_id: str, reason: str) -> tuple[Run, bool]:
        """``stop``; also says whether this call moved the run (False: it was stopping already).

        A ``preempted`` run is on its way back into line: it is put there and cancelled.
        """
        for _ in range(5):  # the run may move on while we look at it; retry on a lost write
            run = self.ctx.store.get_run(run_id)
            if run.state == RunState.STOPPING:
                return run, False
            if run.state in TERMINAL:
                raise Conflict(f"run {run_id} is {run.state.value} and cannot be stopped", field="state")
            try:
                if run.state == RunState.PREEMPTED:
                    self.moves.move(run, RunState.QUEUED, f"back in line to be stopped ({reason})")
                    continue
                to = RunState.CANCELLED if run.state == RunState.QUEUED else RunState.STOPPING
                moved = self.moves.move(run, to, reason)
            except StaleWrite:
                continue
            if moved.state == RunState.STOPPING and moved.handle:
                self._stop_job(moved)
            return moved, True
        raise Conflict(f"run {run_id} kept changing state; try again", field="state")

    def _queue_of(self, run: Run) -> Queue:
        """The run's queue, for its target; NotFound that says why when the queue was deleted
        (the run itself stays readable, but only its queue says which target holds its job)."""
        try:
            return self.ctx.store.get_queue(run.queue)
        except NotFound:
            raise NotFound(
                f"run {run.id}: its queue {run.queue!r} was deleted, and with it the way to the "
                "job's output (the run itself stays readable: launchq runs show)",
                field="queue",
            ) from None

    def _stop_job(self, run: Run) -> None:
        """Tell the run's job to stop; an agents queue's job is stopped by its agent's reconciler."""
        target = queue_target(self.ctx.targets, self.ctx.store.get_queue(run.queue))
        if target is not None:
            target.stop(run)
