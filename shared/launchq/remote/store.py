"""``RemoteRunStore``: the ``RunStore`` of an agent, over the control plane's agent routes.

With it the agent's dispatcher, reconciler and transitions run unchanged: a claim is the
control plane's atomic claim, a move is a conditional report (expected state AND version),
and every error is launchq's own (``launchq.remote.client``).

Versions. The transitions step names the state it expects, not the version; the server also
wants the version, so that an agent whose lease expired cannot move a run another agent
claimed since (same state, later version). This store remembers the version of every run it
has seen and sends it. For the runs this agent claimed and still holds (``claimed`` or
``building``) only its own claim, moves and renewals count: a listing that shows the run
claimed again by someone else must not hand this agent the newer version. Once a run has
left those states (its job submitted), the latest version seen is used, since what moves it
then (a job's end, a stop) depends on its state alone.

What an agent never needs (creating queues, enqueueing, jobs, schedules, places in line,
saving log tails, API keys) raises ``NotForAgents``. ``list_queues`` returns the agent's own queues, and
``list_schedules`` none: the control plane fires schedules, not its agents.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from launchq.domain.api_keys import ApiKey
from launchq.domain.jobs import Job, JobSpec
from launchq.domain.models import Queue, Run, RunEvent, RunUpdate, Schedule
from launchq.domain.states import TERMINAL, RunState
from launchq.errors import LaunchqError, NotFound, StaleWrite
from launchq.ports import LogTail, RunStore
from launchq.remote.client import AgentClient

#: The lease bounds of ``POST /agents/claim`` and ``/lease`` (seconds).
MIN_LEASE_SECONDS, MAX_LEASE_SECONDS = 10, 3600
_HOLDING = (RunState.CLAIMED, RunState.BUILDING)
#: Versions remembered at most; a forgotten one is read again (``get_run``) when needed.
MAX_REMEMBERED = 10_000

RunObserver = Callable[[Run], None]
"""Told of every run the store hands out (the log shipper follows jobs with it)."""


class NotForAgents(LaunchqError):
    """An operation of the control plane that an agent's store does not offer."""


def lease_seconds(lease_until: datetime, now: datetime) -> int:
    """The lease from now to ``lease_until``, in whole seconds within the routes' bounds."""
    seconds = round((lease_until - now).total_seconds())
    return min(max(seconds, MIN_LEASE_SECONDS), MAX_LEASE_SECONDS)


class RemoteRunStore(RunStore):
    """A ``RunStore`` backed by one control plane, seen through the queues this agent serves."""

    def __init__(self, client: AgentClient, queues: Iterable[str]) -> None:
        self.client = client
        self.queues = list(dict.fromkeys(queues))
        self._lock = threading.Lock()
        self._versions: dict[str, int] = {}  # run id -> latest version seen (live runs)
        self._held: dict[str, tuple[int, RunState]] = {}  # run id -> (version, state): claims held
        self._lost: set[str] = set()  # held claims not renewed any more (moved on, or abandoned)
        self._launching: dict[int, str] = {}  # thread id -> the run its last claim is launching
        self._mine: dict[str, str] = {}  # run id -> queue: active runs this agent claimed or moved
        self._observers: list[RunObserver] = []

    def observe(self, observer: RunObserver) -> None:
        """Call ``observer`` with every run this store returns from now on."""
        self._observers.append(observer)

    # -- what the store remembers ---------------------------------------------------------
    def _seen(self, run: Run, own: bool = False) -> Run:
        """Remember ``run``'s version; ``own``: it came back from this agent's claim or report."""
        with self._lock:
            self._versions.pop(run.id, None)  # (re)inserted last: the oldest go first
            if run.state not in TERMINAL:
                self._versions[run.id] = run.version
                if len(self._versions) > MAX_REMEMBERED:  # runs that ended out of sight
                    for stale in list(self._versions)[: MAX_REMEMBERED // 2]:
                        del self._versions[stale]
            if run.state not in _HOLDING:
                if run.id in self._lost:  # a claim this agent lost: the run is another's now
                    self._lost.discard(run.id)
                    self._mine.pop(run.id, None)
                self._held.pop(run.id, None)
            elif own:
                self._held[run.id] = (run.version, run.state)
            if not run.state.active:
                self._mine.pop(run.id, None)
            elif own:
                self._mine[run.id] = run.queue
        for observer in self._observers:
            observer(run)
        return run

    def _version(self, run_id: str) -> int:
        with self._lock:
            held = self._held.get(run_id)
            known = held[0] if held is not None else self._versions.get(run_id)
        return known if known is not None else self.get_run(run_id).version

    def held(self) -> dict[str, int]:
        """The claims this agent holds and still renews: run id -> version."""
        with self._lock:
            return {run_id: held[0] for run_id, held in self._held.items() if run_id not in self._lost}

    def _launch_over(self) -> None:
        """The calling (dispatcher) thread is done launching its last claim. If that run is
        still ``claimed``, its launch gave up without a word (the target could not be asked:
        BackendUnavailable): the claim is no longer renewed nor counted, so it expires back
        into line as the dispatcher expects, instead of being renewed for ever. Call with
        the lock held."""
        run_id = self._launching.pop(threading.get_ident(), None)
        held = self._held.get(run_id or "")
        if run_id is not None and held is not None and held[1] is RunState.CLAIMED:
            self._lost.add(run_id)

    # -- queues ---------------------------------------------------------------------------
    def get_queue(self, name: str) -> Queue:
        return self.client.get_queue(name)[0]

    def list_queues(self) -> list[Queue]:
        """The agent's queues that exist (one deleted meanwhile is left out)."""
        found = []
        for name in self.queues:
            try:
                found.append(self.get_queue(name))
            except NotFound:
                continue
        return found

    def count_active(self, queue: str) -> int:
        """The runs of ``queue`` holding one of THIS agent's slots: claimed by it (a claim
        since lost excluded) or launched and not yet seen ending.

        An agent's ``max_jobs`` (``-j``) counts its own jobs, as W&B's agent does; each
        queue's ``max_jobs`` across all agents is the control plane's atomic claim. Jobs
        re-adopted after a restart count once this agent has moved them.
        """
        with self._lock:
            self._launch_over()  # the dispatcher counts between launches, never during one
            return sum(1 for run_id, name in self._mine.items() if name == queue and run_id not in self._lost)

    def count_queued(self, queue: str) -> int:
        return self.client.get_queue(queue)[2]

    def create_queue(self, queue: Queue) -> None:
        raise NotForAgents("queues are created on the control plane (launchq queue create)")

    def update_queue(self, queue: Queue) -> Queue:
        raise NotForAgents("queues are changed on the control plane (launchq queue update)")

    def delete_queue(self, name: str) -> None:
        raise NotForAgents("queues are deleted on the control plane (launchq queue delete)")

    # -- runs -----------------------------------------------------------------------------
    def add_run(self, run: Run) -> tuple[Run, bool]:
        raise NotForAgents("runs are enqueued on the control plane (launchq launch)")

    def get_run(self, run_id: str) -> Run:
        return self._seen(self.client.get_run(run_id)[0])

    def events(self, run_id: str) -> list[RunEvent]:
        run, events = self.client.get_run(run_id)
        self._seen(run)
        return events

    def list_runs(
        self, queue: str | None = None, states: Iterable[RunState] | None = None, limit: int = 1000
    ) -> list[Run]:
        """Newest first, over the agent's queues (or ``queue``, one of them or not)."""
        wanted = list(states) if states is not None else None
        runs: list[Run] = []
        for name in [queue] if queue is not None else self.queues:
            try:
                runs += self.client.list_runs(name, wanted, limit)
            except NotFound:  # a queue deleted meanwhile has no runs to reconcile
                continue
        runs.sort(key=lambda run: run.seq, reverse=True)
        return [self._seen(run) for run in runs[:limit]]

    def position(self, run: Run) -> int | None:
        raise NotForAgents("places in line are shown by the control plane (launchq runs list)")

    def positions(self, runs: Iterable[Run]) -> dict[str, int]:
        raise NotForAgents("places in line are shown by the control plane (launchq runs list)")

    def claim(
        self, queue: str, now: datetime, lease_until: datetime, claimer: str = "dispatcher"
    ) -> Run | None:
        """The control plane's atomic claim, made in this agent's name (``claimer`` is not
        sent: the control plane names the claim after the agent id it was given). The claim
        is renewed (``renew_held``) while this thread launches it: until its next ``claim``
        or ``count_active``."""
        with self._lock:
            self._launch_over()
        run = self.client.claim(queue, lease_seconds(lease_until, now))
        if run is None:
            return None
        self._seen(run, own=True)
        with self._lock:
            self._launching[threading.get_ident()] = run.id
        return run

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
        """A conditional report; ``now`` is the server's to decide (its clock stamps the event)."""
        version = expected_version if expected_version is not None else self._version(run_id)
        run, _replayed = self.client.move(run_id, version, expected, to, reason, update)
        return self._seen(run, own=True)

    def renew_lease(self, run_id: str, version: int, lease_until: datetime) -> Run:
        seconds = lease_seconds(lease_until, datetime.now(lease_until.tzinfo))
        try:
            run = self.client.renew_lease(run_id, version, seconds)
        except (StaleWrite, NotFound):
            with self._lock:
                self._lost.add(run_id)  # kept (not dropped): its old version still guards its moves
            raise
        return self._seen(run, own=True)

    def renew_held(self, lease_for: timedelta, now: datetime) -> list[str]:
        """Renew every claim this agent holds for ``lease_for``; the run ids whose claim was lost.

        Raises BackendUnavailable when the control plane cannot be reached (nothing is lost
        then: the next beat tries again, two beats before the lease runs out).
        """
        lost = []
        for run_id, version in self.held().items():
            try:
                self.renew_lease(run_id, version, now + lease_for)
            except (StaleWrite, NotFound):
                lost.append(run_id)
        return lost

    def save_log_tail(self, run_id: str, tail: LogTail) -> None:
        raise NotForAgents("an agent ships logs in chunks (POST /agents/runs/{id}/logs)")

    def log_tail(self, run_id: str) -> LogTail | None:
        raise NotForAgents("shipped logs are read from the control plane (launchq runs logs)")

    # -- launch jobs: resolved by the control plane at enqueue -----------------------------
    def add_job_version(self, spec: JobSpec, now: datetime) -> Job:
        raise NotForAgents("jobs are created on the control plane (launchq job create)")

    def get_job(self, name: str, version: int | None = None) -> Job:
        raise NotForAgents("jobs live on the control plane (launchq job describe)")

    def list_jobs(self) -> list[Job]:
        raise NotForAgents("jobs live on the control plane (launchq job list)")

    def list_job_versions(self, name: str) -> list[Job]:
        raise NotForAgents("jobs live on the control plane (launchq job describe)")

    # -- schedules ------------------------------------------------------------------------
    def list_schedules(self) -> list[Schedule]:
        """None: the control plane fires schedules (its reconciler or trigger), not its agents."""
        return []

    def create_schedule(self, schedule: Schedule) -> None:
        raise NotForAgents("schedules are created on the control plane (launchq schedule create)")

    def get_schedule(self, name: str) -> Schedule:
        raise NotForAgents("schedules live on the control plane (launchq schedule list)")

    def delete_schedule(self, name: str) -> None:
        raise NotForAgents("schedules are deleted on the control plane (launchq schedule delete)")

    def advance_schedule(
        self, name: str, expected_next: datetime, next_fire_at: datetime, last_run_id: str
    ) -> None:
        raise NotForAgents("the control plane fires schedules, not its agents")

    # -- API keys: an agent authenticates with one, it never keeps or checks any -----------
    def add_api_key(self, key: ApiKey) -> None:
        raise NotForAgents("API keys are made on the control plane (launchq keys create)")

    def get_api_key(self, key_id: str) -> ApiKey:
        raise NotForAgents("the control plane checks API keys, not its agents")

    def list_api_keys(self, entity: str | None = None) -> list[ApiKey]:
        raise NotForAgents("API keys live on the control plane (launchq keys list)")

    def revoke_api_key(self, key_id: str, at: datetime) -> ApiKey:
        raise NotForAgents("API keys are revoked on the control plane (launchq keys revoke)")
