"""An in-memory target whose jobs the caller drives: the ``Target`` stub shipped in the package.

As Dramatiq ships ``StubBroker`` beside its Redis and RabbitMQ brokers, launchq ships this
fake beside ``local-process`` and ``sagemaker``, and it passes the same contract suite
(``tests/contract/test_target_contract.py``). Service tests use it to put a job in any
state without a process or a cloud: ``jobs[run_id] = TargetStatus(...)`` sets a job's
state directly, ``advance(run)`` lets one step of a job's life pass (starting, running,
finished; or stopped once a stop was asked for), ``preempt(run)`` takes a job away as a
cluster would (``preempted``), ``fail_submit`` makes ``submit`` refuse. Each submit is
recorded in ``attempts`` with the run's attempt number (``Run.preemptions``), so a test
sees a preempted run resubmitted as its next attempt.

It stands in for the ``local-process`` target (same resource name, same config rules),
so queues and runs written for local mode work against it unchanged. A stop is recorded
and honoured at the job's next step, as a real job ends some time after its SIGTERM: the
service must keep asking until the target reports the job stopped.
"""

from __future__ import annotations

from typing import ClassVar

from launchq.adapters.targets.local_config import parse_config
from launchq.domain.models import JsonObject, Run, RunSpec
from launchq.errors import LaunchFailed
from launchq.ports import Target, TargetStatus

__all__ = ["STOP_EXIT_CODE", "FakeTarget"]

STOP_EXIT_CODE = -15  # what a job ended by SIGTERM reports, as local-process does
_ENDED = frozenset({"finished", "failed", "stopped", "lost", "preempted"})


class FakeTarget(Target):
    """Jobs are records in ``jobs`` (by run id); ``stops`` lists every stop asked for, in order."""

    resource: ClassVar[str] = "local-process"
    needs_image: ClassVar[bool] = False

    def __init__(self) -> None:
        self.jobs: dict[str, TargetStatus] = {}
        self.stops: list[str] = []
        self.output: dict[str, str] = {}
        self.fail_submit: str | None = None
        self.attempts: list[tuple[str, int]] = []
        self._stop_requested: set[str] = set()

    def validate(self, spec: RunSpec, resolved: JsonObject) -> None:
        """The local-process target's config rules. Raises InvalidInput naming the field."""
        parse_config(resolved)

    def submit(self, run: Run) -> dict[str, str]:
        """A new job in ``starting``; raises LaunchFailed(``fail_submit``) when that is set.

        A submit repeated for the same attempt (``run.preemptions``) adopts the job it started
        (the first submit's record was lost), as every target must: no second job."""
        if self.fail_submit:
            raise LaunchFailed(self.fail_submit)
        if run.id in self.jobs and (run.id, run.preemptions) in self.attempts:
            return {"job": run.id}
        self.jobs[run.id] = TargetStatus(state="starting")
        self.output[run.id] = ""
        self._stop_requested.discard(run.id)
        self.attempts.append((run.id, run.preemptions))
        return {"job": run.id}

    def status(self, run: Run) -> TargetStatus:
        """The job's recorded status; ``lost`` for a run without a handle or a job never submitted."""
        job = self.jobs.get(run.handle.get("job", ""))
        return job if job is not None else TargetStatus(state="lost", detail="no such fake job")

    def stop(self, run: Run) -> None:
        """Record the stop; a live job reports ``stopped`` at its next ``advance``."""
        self.stops.append(run.id)
        job_id = run.handle.get("job", "")
        job = self.jobs.get(job_id)
        if job is not None and job.state not in _ENDED:
            self._stop_requested.add(job_id)

    def logs(self, run: Run, offset: int = 0) -> tuple[str, int]:
        """The job's output (``output``, appended to by ``advance``) from ``offset`` on."""
        text = self.output.get(run.handle.get("job", ""), "")
        chunk = text[offset:]
        return chunk, offset + len(chunk)

    # -- driving the fake -------------------------------------------------------------
    def preempt(self, run: Run, detail: str = "preempted: node reclaimed") -> TargetStatus:
        """Take the run's live job away, as a cluster evicting its pod; an ended job stays as it is."""
        job_id = run.handle.get("job", "")
        job = self.jobs.get(job_id)
        if job is None or job.state in _ENDED:
            return self.status(run)
        self.jobs[job_id] = TargetStatus(state="preempted", detail=detail)
        return self.jobs[job_id]

    def advance(self, run: Run) -> TargetStatus:
        """Let one step of the job's life pass and return its new status.

        A job asked to stop ends ``stopped``; otherwise ``starting`` becomes ``running``,
        ``running`` becomes ``finished`` (exit code 0); an ended job stays as it is.
        """
        job_id = run.handle.get("job", "")
        job = self.jobs.get(job_id)
        if job is None or job.state in _ENDED:
            return self.status(run)
        if job_id in self._stop_requested:
            moved = TargetStatus(state="stopped", exit_code=STOP_EXIT_CODE, detail="stopped on request")
        elif job.state == "running":
            moved = TargetStatus(state="finished", exit_code=0)
        else:
            moved = TargetStatus(state="running")
        self.jobs[job_id] = moved
        self.output[job_id] = self.output.get(job_id, "") + f"fake job {job_id}: {moved.state}\n"
        return moved
