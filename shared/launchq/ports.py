"""The ports: one small interface per concern. Adapters live in ``launchq.adapters``.

Every method documents what it raises; adapters translate their SDK's errors into
``launchq.errors`` at their edge, so no botocore/google/azure exception crosses a port.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from launchq.domain.models import JsonObject, Queue, Run, RunEvent, RunSpec, RunUpdate, Schedule
from launchq.domain.states import RunState


class RunStore(ABC):
    """The single source of truth for queues, runs, their order and their states.

    Every state change is a conditional write: it names the state it expects and fails
    with ``StaleWrite`` when the record moved on. Every transition appends a ``RunEvent``.
    """

    # -- queues -------------------------------------------------------------------------
    @abstractmethod
    def create_queue(self, queue: Queue) -> None:
        """Raises AlreadyExists if a queue of that name exists."""

    @abstractmethod
    def get_queue(self, name: str) -> Queue:
        """Raises NotFound."""

    @abstractmethod
    def list_queues(self) -> list[Queue]: ...

    @abstractmethod
    def update_queue(self, queue: Queue) -> Queue:
        """Write ``queue`` if the stored version is ``queue.version``; returns it with version+1.

        Raises NotFound, StaleWrite.
        """

    @abstractmethod
    def delete_queue(self, name: str) -> None:
        """Raises NotFound; Conflict while the queue holds queued or active runs."""

    # -- runs ---------------------------------------------------------------------------
    @abstractmethod
    def add_run(self, run: Run) -> tuple[Run, bool]:
        """Store a new ``queued`` run, giving it the next ``seq``; returns (run, created).

        When ``run.idempotency_key`` is already used on the run's queue, nothing is written
        and the existing run is returned with ``created=False``. Raises NotFound (queue).
        """

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """Raises NotFound."""

    @abstractmethod
    def list_runs(
        self,
        queue: str | None = None,
        states: Iterable[RunState] | None = None,
        limit: int = 1000,
    ) -> list[Run]:
        """Runs newest first (by seq descending), filtered by queue and any of ``states``."""

    @abstractmethod
    def position(self, run: Run) -> int | None:
        """1-based place of a queued run among its queue's queued runs; None if not queued."""

    @abstractmethod
    def positions(self, runs: Iterable[Run]) -> dict[str, int]:
        """The places (as ``position``) of those of ``runs`` that are queued now, by run id.

        For a page of runs: each queue involved has its line read once, however many of
        its runs are asked about (a listing must not cost one query per run).
        """

    @abstractmethod
    def count_active(self, queue: str) -> int:
        """Runs of ``queue`` in an active state (holding a slot)."""

    @abstractmethod
    def count_queued(self, queue: str) -> int:
        """Runs of ``queue`` waiting in line (``queued``)."""

    @abstractmethod
    def claim(self, queue: str, now: datetime, lease_until: datetime) -> Run | None:
        """Atomically move the queue's first queued run (priority, then seq) to ``claimed``.

        Only when the queue has a free slot (``max_jobs``); None when it has none or is empty.
        Two callers racing never get the same run. Raises NotFound (queue).
        """

    @abstractmethod
    def transition(
        self,
        run_id: str,
        expected: RunState,
        to: RunState,
        reason: str,
        now: datetime,
        update: RunUpdate | None = None,
    ) -> Run:
        """Move a run from ``expected`` to ``to`` (conditional write) and record the event.

        Raises NotFound; Conflict if the transition is not allowed; StaleWrite if the run
        is not in ``expected`` any more.
        """

    @abstractmethod
    def events(self, run_id: str) -> list[RunEvent]:
        """Oldest first. Raises NotFound."""

    # -- schedules ----------------------------------------------------------------------
    @abstractmethod
    def create_schedule(self, schedule: Schedule) -> None:
        """Raises AlreadyExists."""

    @abstractmethod
    def get_schedule(self, name: str) -> Schedule:
        """Raises NotFound."""

    @abstractmethod
    def list_schedules(self) -> list[Schedule]: ...

    @abstractmethod
    def delete_schedule(self, name: str) -> None:
        """Raises NotFound."""

    @abstractmethod
    def advance_schedule(
        self, name: str, expected_next: datetime, next_fire_at: datetime, last_run_id: str
    ) -> None:
        """Set the next fire time if it still is ``expected_next``. Raises NotFound, StaleWrite."""


class Doorbell(ABC):
    """Wakes a dispatcher for a queue. Losing or repeating a ring never loses or repeats a run."""

    @abstractmethod
    def ring(self, queue: str) -> None:
        """Raises BackendUnavailable."""


class ScheduleTrigger(ABC):
    """Fires a cron schedule's ticks from outside launchq (e.g. EventBridge Scheduler).

    A tick it fires comes back as ``ScheduleService.fire(name, tick)``; the reconciler's
    ``fire_due`` stays the fallback, and both enqueue a tick under one idempotency key.
    """

    @abstractmethod
    def upsert(self, schedule: Schedule) -> None:
        """Create the trigger of ``schedule``, or replace the one of that name.

        Raises InvalidInput (field ``cron``) for a cron the backend cannot express,
        BackendUnavailable.
        """

    @abstractmethod
    def delete(self, name: str) -> None:
        """Remove the trigger of schedule ``name``; one that is missing is fine. Raises BackendUnavailable."""


TargetState = Literal["starting", "running", "finished", "failed", "stopped", "lost"]


class TargetStatus(BaseModel):
    """What a target reports about a submitted run."""

    state: TargetState
    exit_code: int | None = None
    detail: str = ""


class Target(ABC):
    """Where runs execute (local-process, kubernetes, sagemaker, ...)."""

    resource: ClassVar[str]
    needs_image: ClassVar[bool] = True

    @abstractmethod
    def validate(self, spec: RunSpec, resolved: JsonObject) -> None:
        """Check a run's spec and resolved resource args at enqueue. Raises InvalidInput."""

    @abstractmethod
    def submit(self, run: Run) -> dict[str, str]:
        """Start ``run`` (its ``resolved`` args and, if needed, its image); return its handle.

        Raises LaunchFailed when the run cannot be started (it goes to ``dead_letter``).
        """

    @abstractmethod
    def status(self, run: Run) -> TargetStatus:
        """The job's current status, from ``run.handle``."""

    @abstractmethod
    def stop(self, run: Run) -> None:
        """Ask the job to stop (idempotent); the target escalates after its grace period."""

    @abstractmethod
    def logs(self, run: Run, offset: int = 0) -> tuple[str, int]:
        """The job's output from byte ``offset`` on, and the offset to ask for next time."""


class BuildPlan(BaseModel):
    """What to build for a run, decided before any build starts (content-addressed)."""

    image_uri: str = Field(description="registry URI with the content-hash tag")
    tag: str
    context_dir: str = Field(description="local directory with the source and the Dockerfile")
    dockerfile: str = Field(description="path of the Dockerfile inside the context")
    platform: str = "linux/amd64"


class BuildResult(BaseModel):
    """Where a build stands: ``ready`` (image pushed), ``building`` (async), or ``failed``."""

    state: Literal["ready", "building", "failed"]
    image_uri: str = ""
    build_id: str = ""
    detail: str = Field(default="", description="for failed: the tail of the build log")


class Builder(ABC):
    """Turns a run's source into an image the target can pull."""

    type: ClassVar[str]
    # The platform builds default to (launch-config.yaml ``builder.platform``); None: linux/amd64.
    # A queue's or run's ``builder.platform`` wins (``BuildOptions.with_default_platform``).
    platform: str | None = None

    @abstractmethod
    def check(self, run: Run) -> None:
        """Refuse at enqueue a source this builder cannot handle. Raises InvalidInput."""

    @abstractmethod
    def start(self, run: Run, plan: BuildPlan) -> BuildResult:
        """Build and push ``plan`` (synchronous builders return ``ready`` or ``failed``;
        asynchronous ones return ``building`` with a ``build_id``). Raises BackendUnavailable."""

    @abstractmethod
    def status(self, run: Run, build_id: str) -> BuildResult:
        """The state of an asynchronous build. Raises BackendUnavailable."""

    @abstractmethod
    def logs(self, run: Run, build_id: str, offset: int = 0) -> tuple[str, int]:
        """The build's log from ``offset`` on, and the next offset."""


class Registry(ABC):
    """Where built images are pushed and looked up."""

    type: ClassVar[str]

    @abstractmethod
    def image_uri(self, tag: str) -> str:
        """The full URI of ``tag`` in this registry."""

    @abstractmethod
    def exists(self, tag: str) -> bool:
        """Whether ``tag`` is already present. Raises BackendUnavailable."""

    @abstractmethod
    def credentials(self) -> RegistryCredentials | None:
        """Short-lived push credentials (None: the builder's own login or an open registry).

        Raises BackendUnavailable."""


class RegistryCredentials(BaseModel):
    """A user name and a password/token for ``docker login``-style pushes; never logged."""

    username: str
    password: str = Field(repr=False)
    server: str
