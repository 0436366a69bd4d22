"""Which attempt's job a local-process run directory holds, so a job is never started twice.

A server killed between starting a job and recording it leaves the run ``claimed``; its
claim expires, the run is claimed again and submitted again. Before starting a job the
target writes the attempt number (``run.preemptions``) to ``attempt``; the supervisor's
first act is to write its pid (its process group, as session leader) to ``supervisor.pid``
(``local_supervisor.SCRIPT``). A submit that finds both, for the same attempt, adopts that
job, running or ended, instead of starting another. A new attempt starts afresh.

The supervisor's pid is written microseconds after the job is started, and a lost launch is
submitted again only after its claim's lease (minutes): the file is there by then.
"""

from __future__ import annotations

from pathlib import Path

SUPERVISOR_PID = "supervisor.pid"
ATTEMPT = "attempt"


def begin_attempt(run_dir: Path, attempt: int) -> None:
    """Before starting a job: forget an earlier attempt's supervisor, record this attempt."""
    (run_dir / SUPERVISOR_PID).unlink(missing_ok=True)
    (run_dir / ATTEMPT).write_text(f"{attempt}\n", encoding="ascii")


def record_supervisor(run_dir: Path, pid: int) -> None:
    """Right after starting the supervisor: its pid, written atomically (temporary file, then
    rename). The supervisor writes the same pid itself when this has not happened yet (a
    server killed in between), so a submit that follows this one always finds it."""
    partial = run_dir / f".{SUPERVISOR_PID}.tmp"
    partial.write_text(f"{pid}\n", encoding="ascii")
    partial.replace(run_dir / SUPERVISOR_PID)


def started_before(run_dir: Path, attempt: int) -> int | None:
    """The pid (= process group) of the supervisor this attempt already started, or None."""
    try:
        recorded = (run_dir / ATTEMPT).read_text(encoding="ascii").strip()
        pid = int((run_dir / SUPERVISOR_PID).read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if recorded == str(attempt) and pid > 1 else None
