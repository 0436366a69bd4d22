"""The tiny supervisor between the local-process target and one job: a POSIX ``sh`` script.

The target starts ``/bin/sh -c SCRIPT launchq-supervisor EXIT_FILE COMMAND [ARG...]`` as
the leader of a new session / process group, with the job's working directory,
environment and log file already in place. The shell runs COMMAND in the same process
group, waits for it and atomically writes its exit code to EXIT_FILE (temporary file,
then ``mv``), so the result survives a restart of the server that started it: that file is
how the reconciler re-adopts a job after a restart.

Why a shell and not Python: the supervisor lives once per run, and even a bare
``python -I -S`` costs about 13 ms of CPU to start (25 ms with the script), which alone
capped a two-core machine near 80 runs/s; ``dash`` starts in well under a millisecond.
The command reaches the script only as ``"$@"``: no user text is ever part of the script,
so nothing in an entry point, argument or environment value can be read as shell syntax
(and Python never asks ``Popen`` for a shell: the argument list starts with ``/bin/sh`` itself).

Signals: stopping signals the whole process group, so SIGTERM reaches the job directly.
The shell traps it (and INT, HUP) with a no-op only to outlive the job and record its code;
a trapped signal is reset to the default action in the job, so the job sees it once, as
before. A SIGKILL of the group kills the supervisor too; the target then records the
code itself (``write_exit_code``). The shell's own stderr is /dev/null, so its "Killed"
notices never reach the job's log; the job's stderr is the log (fd 3 carries it across).

The target writes the supervisor's pid (= its process group, as session leader) to
``supervisor.pid`` beside EXIT_FILE right after starting it; the supervisor's first act
writes the same pid there unless the file is already there (one small write, no fork). A
server killed in between still leaves the file, so the next launch of the run finds and
adopts the job instead of starting a second one (``local_attempts``).

Exit codes: a shell sees a job killed by signal N as status 128+N, so the file records
-N for 129..192 (the convention ``bash``, Docker and Kubernetes report by): a job killed by
SIGTERM, SIGKILL (the OOM killer) or SIGSEGV is reported as killed by it. The price: a job
that itself calls ``exit(137)`` is reported as killed by SIGKILL. A command that cannot
start records 127 (not found) or 126 (not executable), with the shell's message in the log.
"""

from __future__ import annotations

import os
from pathlib import Path

SHELL = "/bin/sh"
NAME = "launchq-supervisor"
"""The script's ``$0``: what ``ps`` shows and what prefixes the shell's own messages."""

SCRIPT = """\
f=$1
shift
p="${f%/*}/supervisor.pid"
[ -e "$p" ] || command printf '%s\\n' "$$" >"$p"
trap : TERM INT HUP
exec 3>&2 2>/dev/null
(exec 2>&3 3>&- && exec "$@")
c=$?
if [ "$c" -gt 128 ] && [ "$c" -le 192 ]; then c=$((128 - c)); fi
t="${f%/*}/.${f##*/}.$$.tmp"
command printf '%s\\n' "$c" >"$t" && command -p mv -f -- "$t" "$f"
"""
"""``(exec ... && exec "$@")`` runs the job in a subshell that becomes the job (one fork);
``command -p`` finds ``mv`` on the default PATH, whatever the job's PATH or functions say."""


def supervisor_argv(exit_file: Path, command: list[str]) -> list[str]:
    """The argv that runs ``command`` under the supervisor, recording its code in ``exit_file``."""
    return [SHELL, "-c", SCRIPT, NAME, str(exit_file.absolute()), *command]  # the job's cwd is not ours


def write_exit_code(path: Path | str, code: int) -> None:
    """Write ``code`` to ``path`` atomically (temporary file, fsync, rename), as the script
    does: for a supervisor that was killed with its job, whose code only the server knows."""
    path = os.fspath(path)
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="ascii") as handle:
        handle.write(f"{code}\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
