"""The tiny supervisor between the local-process target and one job.

``python -I local_supervisor.py EXIT_FILE -- COMMAND [ARG...]``

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
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

USAGE = "usage: local_supervisor.py EXIT_FILE -- COMMAND [ARG...]"
EXIT_NOT_FOUND = 127
EXIT_CANNOT_RUN = 126


def write_exit_code(path: Path, code: int) -> None:
    """Write ``code`` to ``path`` atomically (temporary file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="ascii") as handle:
        handle.write(f"{code}\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _outlive(signum: int, frame: FrameType | None) -> None:
    """SIGTERM sent to the group: the job got it too; keep waiting to record its code."""


def run(command: list[str]) -> int:
    """Run ``command`` in this process group and return its exit code."""
    try:
        child = subprocess.Popen(command)
    except FileNotFoundError as exc:
        print(f"launchq: cannot start {command[0]!r}: {exc.strerror}", file=sys.stderr, flush=True)
        return EXIT_NOT_FOUND
    except OSError as exc:
        print(f"launchq: cannot start {command[0]!r}: {exc.strerror}", file=sys.stderr, flush=True)
        return EXIT_CANNOT_RUN
    return child.wait()


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(USAGE, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _outlive)
    exit_file = Path(argv[0])
    write_exit_code(exit_file, run(argv[2:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
