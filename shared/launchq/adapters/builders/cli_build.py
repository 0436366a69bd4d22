"""What the two command-line builders (buildah, docker) share: steps, logs, recorded results.

A build is a list of ``Step``s (argument lists, never a shell) run one after the other in
``work_dir/<build id>/``: their output goes to ``build.log`` with each command line before
it, and the outcome to ``result.json`` so ``status`` can answer after the fact. Secrets
(the registry password and its base64 forms) never reach argv: a builder writes them to a
file in a private temporary directory or passes them on stdin, and every log line is
scrubbed of them anyway. A step running longer than ``timeout`` seconds is killed with its
whole process group. A failed build's ``detail`` is the last lines of the log.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, ClassVar

from launchq.domain.models import Run
from launchq.errors import InvalidInput, LaunchqError
from launchq.ports import Builder, BuildPlan, BuildResult, Registry, RegistryCredentials

__all__ = [
    "TAIL_LINES",
    "CliBuilder",
    "Step",
    "executable_runs",
    "run_steps",
    "secret_forms",
    "tail",
    "write_private",
]

TAIL_LINES = 30
MAX_LOG_CHUNK = 1 << 20
REDACTED = b"********"
NEEDS_SOURCE = "a build needs a source: give uri (a git URL or a directory), or a prebuilt docker_image"
_BUILD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class Step:
    """One command of a build, named for messages; ``stdin`` is fed to it (``--password-stdin``)."""

    name: str
    argv: list[str]
    stdin: bytes | None = None


def executable_runs(argv: Sequence[str], timeout: float) -> bool:
    """Whether ``argv`` exists and exits 0 within ``timeout`` (an availability probe)."""
    if shutil.which(argv[0]) is None:
        return False
    try:
        done = subprocess.run(
            argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return False  # a hung engine is an unavailable one; run() has killed it
    except OSError:
        return False  # found on PATH but not executable: unavailable
    return done.returncode == 0


def secret_forms(credentials: RegistryCredentials | None) -> list[bytes]:
    """The byte strings that must never appear in a log: the password and its encodings."""
    if credentials is None or not credentials.password:
        return []
    pair = f"{credentials.username}:{credentials.password}".encode()
    return [
        credentials.password.encode(),
        base64.b64encode(pair),
        base64.b64encode(credentials.password.encode()),
    ]


def _scrub(line: bytes, secrets: Sequence[bytes]) -> bytes:
    for secret in secrets:
        line = line.replace(secret, REDACTED)
    return line


def _run_step(step: Step, log: IO[bytes], secrets: Sequence[bytes], timeout: float) -> int | str:
    """The step's exit status, or why it could not run to its end."""
    try:
        proc = subprocess.Popen(
            step.argv,
            stdin=subprocess.PIPE if step.stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a timeout ends the whole tool
        )
    except OSError as exc:
        return f"{step.argv[0]} could not be started: {exc.strerror or exc}"
    timed_out = threading.Event()

    def _kill() -> None:
        timed_out.set()
        with contextlib.suppress(ProcessLookupError):  # the group already ended: nothing to kill
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, _kill)
    timer.start()
    try:
        if proc.stdin is not None:
            # A tool that exits without reading its stdin reports why through its status.
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(step.stdin or b"")
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
        for line in proc.stdout or ():
            log.write(_scrub(line, secrets))
            log.flush()
        code = proc.wait()
    finally:
        timer.cancel()
    return f"timed out after {timeout:.0f}s" if timed_out.is_set() else code


def run_steps(
    steps: Sequence[Step], log_path: Path, *, secrets: Sequence[bytes], timeout: float
) -> str | None:
    """Run ``steps`` in order, appending to ``log_path``; None on success, else the reason."""
    with log_path.open("ab") as log:
        for step in steps:
            log.write(_scrub(f"$ {shlex.join(step.argv)}\n".encode(), secrets))
            log.flush()
            outcome = _run_step(step, log, secrets, timeout)
            if outcome == 0:
                continue
            reason = f"`{step.name}` exited with status {outcome}" if isinstance(outcome, int) else outcome
            log.write(f"launchq: {reason}\n".encode())
            return reason
    return None


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a log (empty when there is none)."""
    if not path.exists():
        return ""
    text = path.read_bytes()[-(MAX_LOG_CHUNK):].decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


class CliBuilder(Builder):
    """A synchronous builder driving a command-line tool; subclasses give the ``steps``."""

    tool: ClassVar[str]

    def __init__(
        self, registry: Registry, *, work_dir: Path, executable: str, timeout: float, platform: str | None
    ) -> None:
        self.registry = registry
        self.work_dir = Path(work_dir)
        self.executable = executable
        self.timeout = timeout
        self.platform = platform

    @abstractmethod
    def steps(
        self, plan: BuildPlan, credentials: RegistryCredentials | None, private_dir: Path
    ) -> list[Step]:
        """The commands building and pushing ``plan``; secrets go into files in ``private_dir``."""

    # -- Builder ------------------------------------------------------------------------
    def check(self, run: Run) -> None:
        if not run.spec.docker_image and not run.spec.uri:
            raise InvalidInput(NEEDS_SOURCE, field="uri")

    def start(self, run: Run, plan: BuildPlan) -> BuildResult:
        """Build and push; ``ready`` or ``failed`` (with the log's tail). Raises BackendUnavailable
        when the registry's credentials cannot be fetched."""
        build_dir = self._build_dir(run.id)
        build_dir.mkdir(parents=True, exist_ok=True)
        log_path = build_dir / "build.log"
        log_path.write_bytes(b"")
        (build_dir / "result.json").unlink(missing_ok=True)
        if shutil.which(self.executable) is None:
            missing = f"{self.tool} is not installed (no {self.executable!r} on PATH)"
            log_path.write_text(f"launchq: {missing}\n")
            return self._record(run.id, BuildResult(state="failed", build_id=run.id, detail=missing))
        try:
            credentials = self.registry.credentials()
        except LaunchqError as exc:
            log_path.write_text(
                f"launchq: no push credentials from the {self.registry.type} registry: {exc}\n"
            )
            raise
        with tempfile.TemporaryDirectory(prefix=f"launchq-{self.tool}-") as private:
            os.chmod(private, 0o700)
            steps = self.steps(plan, credentials, Path(private))
            reason = run_steps(steps, log_path, secrets=secret_forms(credentials), timeout=self.timeout)
        if reason is None:
            result = BuildResult(state="ready", image_uri=plan.image_uri, build_id=run.id)
        else:
            result = BuildResult(state="failed", build_id=run.id, detail=tail(log_path))
        return self._record(run.id, result)

    def status(self, run: Run, build_id: str) -> BuildResult:
        path = self._build_dir(build_id) / "result.json"
        if not path.exists():
            detail = f"no result recorded for build {build_id} (never started here, or interrupted)"
            return BuildResult(state="failed", build_id=build_id, detail=detail)
        return BuildResult.model_validate_json(path.read_text())

    def live_log_id(self, run: Run) -> str | None:
        """A build here is named after its run (``start`` writes ``<run id>/build.log``)."""
        return run.id

    def logs(self, run: Run, build_id: str, offset: int = 0) -> tuple[str, int]:
        path = self._build_dir(build_id) / "build.log"
        if not path.exists():
            return "", offset
        with path.open("rb") as log:
            log.seek(offset)
            chunk = log.read(MAX_LOG_CHUNK)
        return chunk.decode(errors="replace"), offset + len(chunk)

    # -- helpers ------------------------------------------------------------------------
    def _build_dir(self, build_id: str) -> Path:
        if not _BUILD_ID.match(build_id):
            raise InvalidInput(f"{build_id!r} is not a build id", field="build_id")
        return self.work_dir / build_id

    def _record(self, build_id: str, result: BuildResult) -> BuildResult:
        path = self._build_dir(build_id) / "result.json"
        partial = path.with_suffix(".tmp")
        partial.write_text(result.model_dump_json())
        partial.replace(path)
        return result


def write_private(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only (0600) and write ``text`` to it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
