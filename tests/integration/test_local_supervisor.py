"""The local-process supervisor (a POSIX ``sh`` script) and the exit watcher, on real processes.

The supervisor must record every way a job can end in the exit file, never read user text
as shell syntax, and keep its own notices out of the job's log; the watcher must report
every exit once and keep no thread once nobody needs it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from launchq.adapters.targets.local_exits import THREAD_NAME, ExitWatcher
from launchq.adapters.targets.local_supervisor import supervisor_argv

pytestmark = pytest.mark.integration

PY = sys.executable


def supervise(command: list[str], workdir: Path, exit_file: Path) -> tuple[int, str]:
    """Run ``command`` under the supervisor; return the recorded code and the job's log."""
    log = workdir / "output.log"
    with log.open("wb") as out:
        subprocess.run(
            supervisor_argv(exit_file, command),
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            check=True,
            timeout=30,
        )
    return int(exit_file.read_text(encoding="ascii")), log.read_text()


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (["true"], 0),
        ([PY, "-c", "raise SystemExit(3)"], 3),
        ([PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"], -signal.SIGSEGV),
        ([PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"], -signal.SIGKILL),
    ],
)
def test_every_ending_is_recorded(tmp_path: Path, command: list[str], code: int) -> None:
    # GIVEN a job that exits normally or is killed by a signal of its own
    # WHEN it runs under the supervisor
    recorded, log = supervise(command, tmp_path, tmp_path / "exit_code")

    # THEN its code is recorded (-N: killed by signal N) and the shell added nothing to the log
    assert recorded == code
    assert log == ""
    # AND no temporary file is left, only the code, the log and the supervisor's pid
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exit_code", "output.log", "supervisor.pid"]
    assert (tmp_path / "supervisor.pid").read_text().strip().isdigit()


def test_a_command_that_cannot_start_is_recorded_with_the_reason(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("echo hi\n")  # not executable

    missing, missing_log = supervise(["no-such-program-here"], tmp_path, tmp_path / "a")
    denied, denied_log = supervise([str(script)], tmp_path, tmp_path / "b")

    assert (missing, denied) == (127, 126)
    assert "no-such-program-here: not found" in missing_log
    assert "Permission denied" in denied_log


def test_user_text_is_passed_through_and_never_read_as_shell(tmp_path: Path) -> None:
    # GIVEN arguments full of shell syntax, and an exit file whose path has some too
    hostile = ["$(touch pwned1)", "`touch pwned2`", "; touch pwned3", "a b", "'\"", "x\ny", "$HOME", "-e"]
    directory = tmp_path / "odd $HOME dir; `x`"
    directory.mkdir()
    code = "import json, sys; print(json.dumps(sys.argv[1:]))"

    # WHEN they reach a job through the supervisor
    recorded, log = supervise([PY, "-c", code, *hostile], directory, directory / "exit_code")

    # THEN the job got them verbatim, nothing ran, and the code landed at that exact path
    assert recorded == 0
    assert log.strip() == json.dumps(hostile)
    assert not list(tmp_path.rglob("pwned*"))


def test_sigterm_to_the_group_reaches_the_job_once_and_the_supervisor_outlives_it(tmp_path: Path) -> None:
    # GIVEN a job that counts the SIGTERMs it gets, then exits 7 a moment after the first
    code = (
        "import signal, sys, time\n"
        "seen = []\n"
        "signal.signal(signal.SIGTERM, lambda *_: seen.append(1))\n"
        "print('ready', flush=True)\n"
        "while not seen: time.sleep(0.01)\n"
        "time.sleep(0.3)\n"
        "print('terms', len(seen), flush=True)\n"
        "sys.exit(7)\n"
    )
    log = tmp_path / "output.log"
    exit_file = tmp_path / "exit_code"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            supervisor_argv(exit_file, [PY, "-c", code]),
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 20
    while "ready" not in log.read_text():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)

    # WHEN the whole group gets SIGTERM (what a stop does)
    os.killpg(proc.pid, signal.SIGTERM)

    # THEN the job saw it once, and the supervisor lived on to record the job's own code
    assert proc.wait(timeout=20) == 0
    assert "terms 1" in log.read_text()
    assert int(exit_file.read_text(encoding="ascii")) == 7


@pytest.mark.parametrize("pidfd", [True, False], ids=["epoll-over-pidfds", "waiter-threads"])
def test_the_watcher_reports_every_exit_once_and_keeps_no_idle_thread(pidfd: bool) -> None:
    # GIVEN a watcher kept warm, as while the local loops listen
    seen: list[str] = []
    done = threading.Event()
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def exited(key: str) -> None:
        assert procs[key].poll() is not None  # really gone by the time it is told
        seen.append(key)
        if len(seen) == len(procs):
            done.set()

    watcher = ExitWatcher(exited, pidfd=pidfd)
    watcher.keep_warm(True)
    before = {t.name for t in threading.enumerate()}

    # WHEN jobs of different lengths are watched (one has already ended when it is watched)
    for index, delay in enumerate([0.3, 0.0, 0.1, 0.2, 0.05]):
        key = f"job{index}"
        procs[key] = subprocess.Popen(["sleep", str(delay)])
        if delay == 0.0:
            procs[key].wait()  # reaped before the watch: still reported
        watcher.watch(key, procs[key])

    # THEN the path asked for is the one used (a reaped process does not turn pidfds off)
    waiters = {t.name for t in threading.enumerate() if t.name.startswith("launchq-exit-job")}
    assert bool(waiters) is not pidfd, waiters

    # AND each exit is reported once, whichever order they end in
    assert done.wait(20), f"only {seen} were reported"
    time.sleep(0.1)
    assert sorted(seen) == sorted(procs)

    # AND once nobody listens, no thread of the watcher is left
    watcher.keep_warm(False)
    deadline = time.monotonic() + 5
    while {t.name for t in threading.enumerate()} - before:
        assert time.monotonic() < deadline, {t.name for t in threading.enumerate()} - before
        time.sleep(0.01)


def test_the_epoll_thread_lingers_only_while_kept_warm() -> None:
    # GIVEN a watcher kept warm and one short job that has ended
    ended = threading.Event()
    watcher = ExitWatcher(lambda _: ended.set())
    watcher.keep_warm(True)
    proc = subprocess.Popen(["true"])
    watcher.watch("one", proc)
    assert ended.wait(20)
    proc.wait()

    # THEN its thread still waits for the next job a while later (no thread start per job)
    time.sleep(0.2)
    assert THREAD_NAME in {t.name for t in threading.enumerate()}

    # AND has ended by the time nobody listens any more (what the loops' stop relies on)
    watcher.keep_warm(False)
    assert THREAD_NAME not in {t.name for t in threading.enumerate()}
