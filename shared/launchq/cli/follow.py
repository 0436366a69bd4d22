"""``launchq runs logs -f``: follow a run from the queue to its end, and exit with its outcome.

Until the job has output, a status line on stderr says where the run stands and what holds
it, refreshed as that changes, built only from the public API (``GET /runs/{id}``: state,
position, events; ``GET /queues/{name}``: ``max_jobs`` and how many runs are active)::

    queued: position 3 in queue gpu (2 ahead), queue at max_jobs 2/2
    claimed by dispatcher on build-host pid 4242
    building image: step 4/9 RUN pip install --no-cache-dir -r requirements.txt

While the image builds, the build log (``GET /runs/{id}/logs?source=build``) is read for its
steps: docker's ``Step N/M :``, BuildKit's ``#n [k/M]``, buildah's and podman's ``STEP N/M:``
and kaniko's ``INFO[t] <INSTRUCTION>`` lines. A build log in none of these formats is shown
line by line on stderr instead. The job's output then goes to stdout, as without ``-f``.

The exit status is the run's outcome, so ``launchq runs logs -f RUN && next-step`` works:

* ``0``: finished;
* the job's own exit code when the run failed with one in 1..255; ``1`` for any other
  failure (killed by a signal, a failed build);
* ``143`` (128 + SIGTERM, what a shell reports for a job told to stop): stopped, or
  cancelled while queued;
* ``125`` (as ``docker run`` when the container could not be started): dead-lettered, i.e.
  launchq could not launch it (the reason is printed).

The CLI's own errors keep their statuses (2 for a mistake such as an unknown run, 1 when
launchq cannot be reached).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import typer

from launchq.build.steps import BuildSteps
from launchq.cli.client import ApiClient, JsonObject
from launchq.cli.errors import ApiError
from launchq.cli.progress import StatusLine

POLL_SECONDS = 0.5
EXIT_STOPPED = 143
EXIT_DEAD_LETTER = 125
EXIT_FAILED = 1
TERMINAL = frozenset({"finished", "failed", "stopped", "cancelled", "dead_letter"})
BEFORE_OUTPUT = frozenset({"queued", "preempted", "claimed", "building", "starting", "stopping"})
"""States in which a run has not (or no longer) produced output: the status line says why."""


def outcome_code(state: str, exit_code: int | None) -> int:
    """The exit status for a run that ended in ``state`` (see the module's docstring)."""
    if state == "finished":
        return 0
    if state == "failed":
        return exit_code if exit_code is not None and 1 <= exit_code <= 255 else EXIT_FAILED
    if state in ("stopped", "cancelled"):
        return EXIT_STOPPED
    return EXIT_DEAD_LETTER


# -- what a waiting run waits for --------------------------------------------------------------
def _last_reason(run: JsonObject) -> str:
    """The reason of the latest event that moved the run into its present state."""
    events = run.get("events") or []
    for event in reversed(events):
        if isinstance(event, dict) and event.get("to_state") == run.get("state") and event.get("reason"):
            return str(event["reason"])
    return str(run.get("reason") or "")


def _slots(queue: JsonObject | None) -> str:
    """What the queue's limit does to a queued run: full, or waiting to be claimed."""
    if queue is None:
        return "waiting to be claimed"
    limit, active = queue.get("max_jobs"), queue.get("active", 0)
    if isinstance(limit, int) and limit > 0 and isinstance(active, int) and active >= limit:
        return f"queue at max_jobs {active}/{limit}"
    if isinstance(limit, int) and limit > 0:
        return f"{active}/{limit} slots in use, waiting to be claimed"
    return f"{active} active (no max_jobs), waiting to be claimed"


def waiting_line(run: JsonObject, queue: JsonObject | None) -> str:
    """The status line for a run that has not started: where it is and what holds it."""
    state = str(run.get("state"))
    if state == "queued":
        position = run.get("position")
        where = f"queue {run.get('queue')}"
        if isinstance(position, int):
            ahead = "next in line" if position <= 1 else f"{position - 1} ahead"
            where = f"position {position} in {where} ({ahead})"
        return f"queued: {where}, {_slots(queue)}"
    reason = _last_reason(run)
    if state == "claimed":
        return reason or "claimed"
    if state == "building":
        return f"building image: {reason}" if reason else "building image"
    return f"{state}: {reason}" if reason else state


# -- the loop ----------------------------------------------------------------------------------
@dataclass
class _BuildLog:
    """Where the build log was read up to, the unfinished last line, and its steps."""

    offset: int = 0
    partial: str = ""
    step: str | None = None
    steps: BuildSteps = field(default_factory=BuildSteps)


class Follower:
    """Follows one run: status on stderr while it waits, output on stdout, the final state."""

    def __init__(self, client: ApiClient, run_id: str, source: str, poll_seconds: float) -> None:
        self.client = client
        self.run_id = run_id
        self.source = source
        self.poll_seconds = poll_seconds
        self.status = StatusLine()
        self.build = _BuildLog()

    def follow(self) -> str:
        """Print the output until the run has ended; return its last state."""
        offset = 0
        try:
            while True:
                chunk = self.client.get_logs(self.run_id, offset, self.source)
                if chunk.text:
                    self.status.close()
                    typer.echo(chunk.text, nl=False)
                caught_up = chunk.next_offset <= offset
                offset = max(offset, chunk.next_offset)
                if not caught_up:
                    continue
                if chunk.state in TERMINAL:
                    return chunk.state
                if chunk.state in BEFORE_OUTPUT and not chunk.text:
                    self._show_wait()
                time.sleep(self.poll_seconds)
        finally:
            self.status.close()

    def _show_wait(self) -> None:
        run = self.client.get_run(self.run_id)
        state = run.get("state")
        if state == "building" and self.source == "job":
            step = self._build_step()
            if step is not None:
                self.status.show(f"building image: {step}")
                return
        queue = self._queue(str(run.get("queue"))) if state == "queued" else None
        self.status.show(waiting_line(run, queue))

    def _queue(self, name: str) -> JsonObject | None:
        try:
            return self.client.get_queue(name)
        except ApiError:  # deleted meanwhile: the line says less, the follow goes on
            return None

    def _build_step(self) -> str | None:
        """Read the build log's new lines; the latest step any of them starts, or None. Lines
        of a builder whose format is not known are shown themselves."""
        log = self.build
        chunk = self.client.get_logs(self.run_id, log.offset, "build")
        log.offset = max(log.offset, chunk.next_offset)
        *lines, log.partial = (log.partial + chunk.text).split("\n")
        for line in lines:
            log.step = log.steps.feed(line) or log.step
            if not log.steps.recognised and line.strip():
                self.status.note(line)
        return log.step


def follow_run(
    client: ApiClient, run_id: str, *, source: str = "job", poll_seconds: float = POLL_SECONDS
) -> int:
    """Follow ``run_id`` to its end (see the module's docstring); the exit status to end with."""
    state = Follower(client, run_id, source, poll_seconds).follow()
    code, detail = 0, ""
    if state != "finished":  # the outcome needs the exit code, the line says why
        run: dict[str, Any] = client.get_run(run_id)
        exit_code = run.get("exit_code") if isinstance(run.get("exit_code"), int) else None
        code = outcome_code(state, exit_code)
        reason = str(run.get("reason") or "")
        detail = f" (exit code {exit_code})" if exit_code is not None else f": {reason}" if reason else ""
    typer.echo(f"run {run_id} {state}{detail}", err=True)
    return code
