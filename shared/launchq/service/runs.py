"""Enqueueing runs, looking at them and stopping them."""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Literal

from launchq.config.resolve import resolve_resource_args
from launchq.domain.models import Run, RunEvent, RunSpec
from launchq.domain.priority import Priority
from launchq.domain.states import ACTIVE, RunState
from launchq.errors import Conflict, InvalidInput, StaleWrite
from launchq.service.builds import BuildService, split_build_options
from launchq.service.context import Context
from launchq.service.transitions import Transitions

LogSource = Literal["job", "build"]

log = logging.getLogger(__name__)

_STOPPABLE = ACTIVE - {RunState.STOPPING}


def request_hash(queue: str, spec: RunSpec) -> str:
    """Fingerprint of an enqueue request, to tell a retry from a reused idempotency key."""
    body = f"{queue}\n{spec.model_dump_json(exclude_unset=False)}"
    return hashlib.sha256(body.encode()).hexdigest()


def new_run_id() -> str:
    return uuid.uuid4().hex[:16]


class RunService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.builds = BuildService(ctx)
        self.moves = Transitions(ctx)

    def prepare(self, queue_name: str, spec: RunSpec, idempotency_key: str | None = None) -> Run:
        """Validate ``spec`` against the queue and build the run, without storing it.

        Raises NotFound (queue) and InvalidInput (anything the user got wrong).
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
        target = self.ctx.targets.get(queue.resource)
        resolved, build = split_build_options(queue.resource, resolve_resource_args(queue, spec))
        now = self.ctx.clock()
        run = Run(
            id=new_run_id(),
            queue=queue.name,
            entity=queue.entity,
            spec=spec,
            priority=spec.priority,
            resolved=resolved,
            build=build,
            idempotency_key=idempotency_key,
            request_hash=request_hash(queue.name, spec),
            created_at=now,
            updated_at=now,
        )
        target.validate(self.builds.check(target, spec, run), resolved)
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

    def find(self, queue: str | None = None, state: RunState | None = None, limit: int = 1000) -> list[Run]:
        if queue is not None:
            self.ctx.store.get_queue(queue)
        return self.ctx.store.list_runs(queue=queue, states=[state] if state else None, limit=limit)

    def logs(self, run_id: str, offset: int = 0, source: LogSource = "job") -> tuple[Run, str, int]:
        """The job's output, or the image build's (``source="build"``); offsets are per source."""
        run = self.ctx.store.get_run(run_id)
        if source == "build":
            text, next_offset = self.builds.logs(run, offset)
            return run, text, next_offset
        if run.started_at is None:
            return run, "", offset
        queue = self.ctx.store.get_queue(run.queue)
        text, next_offset = self.ctx.targets.get(queue.resource).logs(run, offset)
        return run, text, next_offset

    def stop(self, run_id: str, reason: str = "stop requested") -> Run:
        """A queued run is cancelled; a live one goes to ``stopping`` and its job is told to stop.

        Raises NotFound; Conflict when the run has already ended.
        """
        for _ in range(5):  # the run may move on while we look at it; retry on a lost write
            run = self.ctx.store.get_run(run_id)
            if run.state == RunState.STOPPING:
                return run
            target_state = RunState.CANCELLED if run.state == RunState.QUEUED else RunState.STOPPING
            if run.state != RunState.QUEUED and run.state not in _STOPPABLE:
                raise Conflict(f"run {run_id} is {run.state.value} and cannot be stopped", field="state")
            try:
                moved = self.moves.move(run, target_state, reason)
            except StaleWrite:
                continue
            if moved.state == RunState.STOPPING and moved.handle:
                queue = self.ctx.store.get_queue(moved.queue)
                self.ctx.targets.get(queue.resource).stop(moved)
            return moved
        raise Conflict(f"run {run_id} kept changing state; try again", field="state")
