"""The ports: one small interface per concern. Adapters live in ``launchq.adapters``.

Every method documents what it raises; adapters translate their SDK's errors into
``launchq.errors`` at their edge, so no AWS/Google/Azure SDK exception crosses a port.
``BackendUnavailable`` is what any method may raise when the backend behind it (a
database, a cloud API, a process table, a disk) cannot be reached or refuses to answer:
the caller may retry, and a user sees a 503, never a traceback.

Where every adapter must do the same work (checking and naming an uploaded archive), the
port does it in public methods and each backend fills two protected hooks, as Powertools'
idempotency persistence layers do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import ClassVar

from launchq.build_ports import Builder, Registry
from launchq.code_store_port import CodeStore
from launchq.domain.api_keys import ApiKey
from launchq.domain.jobs import Job, JobSpec
from launchq.domain.models import JsonObject, Queue, Run, RunEvent, RunSpec, RunUpdate, Schedule
from launchq.domain.states import RunState
from launchq.port_values import (
    BuildNotice,
    BuildPlan,
    BuildResult,
    BuildState,
    LogTail,
    RegistryCredentials,
    TargetState,
    TargetStatus,
)

__all__ = [
    "BuildNotice",
    "BuildPlan",
    "BuildResult",
    "BuildState",
    "Builder",
    "CodeStore",
    "Doorbell",
    "LogTail",
    "Registry",
    "RegistryCredentials",
    "RunStore",
    "ScheduleTrigger",
    "Target",
    "TargetState",
    "TargetStatus",
]


class RunStore(ABC):
    """The single source of truth for queues, runs, their order and their states.

    Every state change is a conditional write: it names the state it expects and fails
    with ``StaleWrite`` when the record moved on. Every version bump appends exactly one
    ``RunEvent``: a run at version ``n`` has ``n`` events, ``events[v - 1]`` produced
    version ``v`` (the enqueue, event 0, produced version 1) and ``events[v]`` left it.
    Every method also raises BackendUnavailable when the database cannot be reached (or,
    for SQLite, stays locked past its busy timeout); nothing is written half-way then.
    """

    # -- queues -------------------------------------------------------------------------
    @abstractmethod
    def create_queue(self, queue: Queue) -> None:
        """Raises AlreadyExists if a queue of that name exists; BackendUnavailable."""

    @abstractmethod
    def get_queue(self, name: str) -> Queue:
        """Raises NotFound, BackendUnavailable."""

    @abstractmethod
    def list_queues(self) -> list[Queue]:
        """Every queue. Raises BackendUnavailable."""

    @abstractmethod
    def update_queue(self, queue: Queue) -> Queue:
        """Write ``queue`` if the stored version is ``queue.version``; returns it with version+1.

        Raises NotFound, StaleWrite, BackendUnavailable.
        """

    @abstractmethod
    def delete_queue(self, name: str) -> None:
        """Raises NotFound; Conflict while the queue holds queued or active runs; BackendUnavailable."""

    # -- runs ---------------------------------------------------------------------------
    @abstractmethod
    def add_run(self, run: Run) -> tuple[Run, bool]:
        """Store a new ``queued`` run, giving it the next ``seq``; returns (run, created).

        When ``run.idempotency_key`` is already used on the run's queue, nothing is written
        and the existing run is returned with ``created=False``. Raises NotFound (queue),
        BackendUnavailable.
        """

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """Raises NotFound, BackendUnavailable."""

    @abstractmethod
    def list_runs(
        self,
        queue: str | None = None,
        states: Iterable[RunState] | None = None,
        limit: int = 1000,
    ) -> list[Run]:
        """Newest first (seq descending), filtered by queue and ``states``. Raises BackendUnavailable."""

    @abstractmethod
    def position(self, run: Run) -> int | None:
        """1-based place of a queued run in its line; None if not queued. Raises BackendUnavailable."""

    @abstractmethod
    def positions(self, runs: Iterable[Run]) -> dict[str, int]:
        """The places (as ``position``) of those of ``runs`` that are queued now, by run id.

        For a page of runs: each queue involved has its line read once, however many of
        its runs are asked about (a listing must not cost one query per run).
        Raises BackendUnavailable.
        """

    @abstractmethod
    def count_active(self, queue: str) -> int:
        """Runs of ``queue`` in an active state (holding a slot). Raises BackendUnavailable."""

    @abstractmethod
    def count_queued(self, queue: str) -> int:
        """Runs of ``queue`` waiting in line (``queued``). Raises BackendUnavailable."""

    @abstractmethod
    def claim(
        self, queue: str, now: datetime, lease_until: datetime, claimer: str = "dispatcher"
    ) -> Run | None:
        """Atomically move the queue's first queued run (priority, then seq) to ``claimed``.

        The claim's event reads ``claimed by <claimer>`` (who took it: a dispatcher's or an
        agent's name with its host and pid), so a run's history says where it went.

        Only when the queue has a free slot (``max_jobs``); None when it has none or is empty.
        Two callers racing never get the same run. Raises NotFound (queue), BackendUnavailable.
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
        expected_version: int | None = None,
    ) -> Run:
        """Move a run from ``expected`` to ``to`` (conditional write) and record the event.

        ``expected_version``, when given, also requires exactly that version, so an agent
        whose lease expired cannot move a run another agent now holds. Raises NotFound;
        Conflict if the transition is not allowed; StaleWrite if the run is not in
        ``expected`` (field ``state``) or not at ``expected_version`` (field ``version``);
        BackendUnavailable.
        """

    @abstractmethod
    def renew_lease(self, run_id: str, version: int, lease_until: datetime) -> Run:
        """An agent's heartbeat: set ``lease_expires_at`` of a run still ``claimed`` or
        ``building`` at exactly ``version``. No version bump, no event (a renewal never makes
        the agent's next report stale). A renewal racing the reconciler's expiry of the same
        lease may lose: beats at a third of the lease make that two missed beats.
        Raises NotFound; StaleWrite (field ``version``) when the run moved on; BackendUnavailable.
        """

    @abstractmethod
    def save_log_tail(self, run_id: str, tail: LogTail) -> None:
        """Replace the shipped log of a run whose job the control plane cannot read itself
        (merging chunks is the caller's work). Raises NotFound, BackendUnavailable."""

    @abstractmethod
    def log_tail(self, run_id: str) -> LogTail | None:
        """The tail last saved for the run; None if none was. Raises NotFound, BackendUnavailable."""

    @abstractmethod
    def events(self, run_id: str) -> list[RunEvent]:
        """Oldest first. Raises NotFound, BackendUnavailable."""

    # -- launch jobs --------------------------------------------------------------------
    @abstractmethod
    def add_job_version(self, spec: JobSpec, now: datetime) -> Job:
        """Store ``spec`` as the next version of its name (1 for a new name), created ``now``.

        Atomic: two creates of one name racing get distinct, consecutive versions, and a
        stored version is never changed. Raises BackendUnavailable.
        """

    @abstractmethod
    def get_job(self, name: str, version: int | None = None) -> Job:
        """Version ``version`` of job ``name``; None: its latest (highest) version.

        Raises NotFound (field ``job``) for an unknown name or version; BackendUnavailable.
        """

    @abstractmethod
    def list_jobs(self) -> list[Job]:
        """The latest version of every job, by name. Raises BackendUnavailable."""

    @abstractmethod
    def list_job_versions(self, name: str) -> list[Job]:
        """Every version of job ``name``, newest first.

        Raises NotFound (field ``job``) for an unknown name; BackendUnavailable.
        """

    # -- schedules ----------------------------------------------------------------------
    @abstractmethod
    def create_schedule(self, schedule: Schedule) -> None:
        """Raises AlreadyExists, BackendUnavailable."""

    @abstractmethod
    def get_schedule(self, name: str) -> Schedule:
        """Raises NotFound, BackendUnavailable."""

    @abstractmethod
    def list_schedules(self) -> list[Schedule]:
        """Every schedule. Raises BackendUnavailable."""

    @abstractmethod
    def delete_schedule(self, name: str) -> None:
        """Raises NotFound, BackendUnavailable."""

    @abstractmethod
    def advance_schedule(
        self, name: str, expected_next: datetime, next_fire_at: datetime, last_run_id: str
    ) -> None:
        """Set the next fire time if it is still ``expected_next``.

        Raises NotFound, StaleWrite, BackendUnavailable."""

    # -- API keys (launchq.domain.api_keys: only the secret's hash is ever stored) -------
    @abstractmethod
    def add_api_key(self, key: ApiKey) -> None:
        """Raises AlreadyExists (the id is taken), BackendUnavailable."""

    @abstractmethod
    def get_api_key(self, key_id: str) -> ApiKey:
        """The key as stored now, never a cached copy (a revoke holds at once).

        Raises NotFound, BackendUnavailable."""

    @abstractmethod
    def list_api_keys(self, entity: str | None = None) -> list[ApiKey]:
        """Every key (of ``entity``), revoked ones too, oldest first. Raises BackendUnavailable."""

    @abstractmethod
    def revoke_api_key(self, key_id: str, at: datetime) -> ApiKey:
        """Set ``revoked_at`` once (revoking again keeps the first time); the record stays.

        Raises NotFound, BackendUnavailable."""


class Doorbell(ABC):
    """Wakes a dispatcher for a queue. Losing or repeating a ring never loses or repeats a run."""

    @abstractmethod
    def ring(self, queue: str) -> None:
        """Ask for a dispatch of ``queue``. Raises BackendUnavailable when the message is refused."""


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


class Target(ABC):
    """Where runs execute (local-process, kubernetes, sagemaker, ...)."""

    resource: ClassVar[str]
    needs_image: ClassVar[bool] = True

    @abstractmethod
    def validate(self, spec: RunSpec, resolved: JsonObject) -> None:
        """Check a run's spec and resolved resource args at enqueue. Raises InvalidInput naming the field."""

    @abstractmethod
    def submit(self, run: Run) -> dict[str, str]:
        """Start ``run`` (its ``resolved`` args and, if needed, its image); return its handle.

        Raises LaunchFailed when the run cannot be started (it goes to ``dead_letter``);
        BackendUnavailable when the backend cannot be asked (nothing is recorded: the claim
        expires and the run goes back in line).
        """

    @abstractmethod
    def status(self, run: Run) -> TargetStatus:
        """The job's current status, from ``run.handle``; a job the backend no longer knows is
        ``lost``. Raises BackendUnavailable."""

    @abstractmethod
    def stop(self, run: Run) -> None:
        """Ask the job to stop (idempotent: a job already gone is fine); the target escalates
        after its grace period. Raises BackendUnavailable."""

    @abstractmethod
    def logs(self, run: Run, offset: int = 0) -> tuple[str, int]:
        """The job's output from ``offset`` on, and the offset to ask for next time (no
        output yet: ``("", offset)``). Raises InvalidInput (field ``offset``) for a negative
        offset, BackendUnavailable."""

    def sees(self, run: Run) -> bool:
        """Whether this process can reach ``run``'s job; reconcilers leave a job they cannot
        (another host's local process) to one that can, rather than call it ``lost``."""
        return True

    def watch(self, notify: Callable[[str], None] | None) -> None:  # noqa: B027 - optional hook
        """Optional: call ``notify(run_id)`` (from any thread, promptly) when a job this process
        started has ended, so its run is settled at once rather than on the reconciler's next
        poll; ``None`` ends the notifications. The notice is a hint, not news: the run is
        settled from ``status`` as the reconciler would. The default pushes nothing; polling
        stays every target's safety net (after a restart, for jobs another process started)."""
