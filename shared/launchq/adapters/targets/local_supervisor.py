"""The tiny supervisor between the local-process target and one job.

``python -I -S local_supervisor.py EXIT_FILE -- COMMAND [ARG...]``

The target starts this script as the leader of a new session / process group, with the
job's working directory, environment and log file already in place. It runs COMMAND in
the same process group, waits for it and atomically writes its exit code (negative signal
number when it was killed by a signal) to EXIT_FILE, so the result survives a restart of
the server that started it.

Stopping signals the whole process group, so SIGTERM reaches the job directly: the
supervisor only catches it (to outlive the job and record its code) and forwards nothing,
which would make the job see the signal twice. Python handlers are reset by ``exec``, so
the job starts with the default SIGTERM disposition. A SIGKILL of the group kills the
supervisor too; the target then records the code itself.

Standard library only, so ``-I`` (ignore PYTHON* variables of the job's environment) works.

It is a whole interpreter per run, so its start-up is kept to what the restart guarantee
needs (the exit file): ``-S`` (no ``site``), and ``os.posix_spawnp`` + ``os.waitpid``
with the C ``_signal`` module instead of ``subprocess``, ``pathlib`` and ``signal``, whose
imports (enum, locale, ...) were most of its start-up. The job gets the signal dispositions
``subprocess`` would give it: SIGPIPE and SIGXFSZ, which Python ignores, back to default.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not ``typing``'s: importing typing is a third of a bare start-up
if TYPE_CHECKING:
    import signal as _signal  # the same functions and constants, with types
    from pathlib import Path
    from types import FrameType
else:
    import _signal  # the C module: ``signal`` adds enums, which cost more start-up than the rest

USAGE = "usage: local_supervisor.py EXIT_FILE -- COMMAND [ARG...]"
EXIT_NOT_FOUND = 127
EXIT_CANNOT_RUN = 126
# What ``subprocess`` resets in a child (restore_signals): Python ignores these itself.
RESTORED_SIGNALS = (_signal.SIGPIPE, _signal.SIGXFSZ)


def write_exit_code(path: Path | str, code: int) -> None:
    """Write ``code`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = os.fspath(path)
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="ascii") as handle:
        handle.write(f"{code}\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _outlive(signum: int, frame: FrameType | None) -> None:
    """SIGTERM sent to the group: the job got it too; keep waiting to record its code."""


def run(command: list[str]) -> int:
    """Run ``command`` in this process group and return its exit code (-N: killed by signal N)."""
    try:
        pid = os.posix_spawnp(command[0], command, os.environ, setsigdef=RESTORED_SIGNALS)
    except FileNotFoundError as exc:
        print(f"launchq: cannot start {command[0]!r}: {exc.strerror}", file=sys.stderr, flush=True)
        return EXIT_NOT_FOUND
    except OSError as exc:
        print(f"launchq: cannot start {command[0]!r}: {exc.strerror}", file=sys.stderr, flush=True)
        return EXIT_CANNOT_RUN
    _, status = os.waitpid(pid, 0)  # retried by Python when SIGTERM interrupts it (PEP 475)
    return os.waitstatus_to_exitcode(status)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(USAGE, file=sys.stderr)
        return 2
    _signal.signal(_signal.SIGTERM, _outlive)
    write_exit_code(argv[0], run(argv[2:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
