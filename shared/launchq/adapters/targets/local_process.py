"""The ``local-process`` target: run a job as a process group on the server's own machine.

Each run gets ``<data_dir>/runs/<run id>/`` holding ``workspace/`` (its source: a directory,
a git URL or uploaded ``code://``, see ``local_workspace.py``), ``output.log`` (stdout and
stderr), ``exit_code`` (written by the supervisor, see ``local_supervisor.py``) and
``stop_requested`` (written by ``stop``). All state lives in those files, so another server
process can report and stop the job.

Like W&B's local-process resource the job runs on the user's own machine, as the user, but
in a clean environment (``local_env.py``): PATH, HOME, the locale, W&B's and launchq's
non-secret settings and what the config's ``inherit_env`` names, never the rest of the
server's. On top come the queue's ``env``, the run's ``env``, the secrets the queue's
config names (``local_secrets.py``: read on the server, remembered for redaction) and the injected
``LAUNCHQ_*``/``WANDB_*`` variables, which win.

Exits are pushed, not only polled (``watch``): every supervisor this process starts is
watched (``local_exits.py``: one epoll thread over pidfds, or a waiter thread per job where
pidfds are missing) until it has written the exit file and exited; it is then reaped and
the run id notified. Jobs started by another process, or before a restart, are not
watched: the reconciler's polling of the exit file re-adopts those.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import ClassVar

from launchq.adapters.targets.local_attempts import begin_attempt, record_supervisor, started_before
from launchq.adapters.targets.local_config import RESOURCE, LocalProcessConfig, parse_config
from launchq.adapters.targets.local_env import inherited
from launchq.adapters.targets.local_exits import ExitWatcher
from launchq.adapters.targets.local_process_host import HOST_KEY, host_id
from launchq.adapters.targets.local_secrets import secret_env
from launchq.adapters.targets.local_supervisor import supervisor_argv, write_exit_code
from launchq.adapters.targets.local_workspace import (
    check_executable,
    check_local_source,
    prepare_local_workspace,
)
from launchq.build.workspace import DEFAULT_CLONE_TIMEOUT
from launchq.domain.models import JsonObject, Run, RunSpec
from launchq.errors import InvalidInput, LaunchFailed
from launchq.ports import CodeStore, Target, TargetStatus

MAX_LOG_READ = 1024 * 1024
STOP_CODES = frozenset({-signal.SIGTERM, -signal.SIGKILL, 128 + signal.SIGTERM, 128 + signal.SIGKILL})
_RUN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def _read_exit_code(path: Path) -> int | None:
    """The recorded exit code, or None when none was written yet."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    return int(text.strip())


def _group_alive(pgid: int) -> bool:
    """Whether a process group ``pgid`` of ours exists (another user's group is not ours)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # the id was reused by another user's processes: our group is gone
    return True


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone: that is what stopping wants
        os.killpg(pgid, signum)


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class LocalProcessTarget(Target):
    """Runs jobs as supervised process groups under ``data_dir/runs/<run id>/``."""

    resource: ClassVar[str] = RESOURCE
    needs_image: ClassVar[bool] = False

    def __init__(
        self,
        data_dir: Path,
        grace_seconds: float = 10.0,
        *,
        clone_timeout: float = DEFAULT_CLONE_TIMEOUT,
        code_store: CodeStore | None = None,
    ) -> None:
        """``code_store``: where ``code://`` sources are read from (None: such runs are refused)."""
        self.data_dir = Path(data_dir)
        self.grace_seconds = grace_seconds
        self.clone_timeout = clone_timeout
        self.code_store = code_store
        self._lock = threading.Lock()
        self._supervisors: dict[str, subprocess.Popen[bytes]] = {}
        self._supervisor_codes: dict[str, int] = {}
        self._timers: dict[str, threading.Timer] = {}
        self._notify: Callable[[str], None] | None = None
        self._exits = ExitWatcher(self._job_exited)

    # -- paths --------------------------------------------------------------------------
    def run_dir(self, run: Run) -> Path:
        if not _RUN_ID.match(run.id):
            raise InvalidInput(f"{run.id!r} cannot name a directory", field="id")
        return self.data_dir / "runs" / run.id

    def _path(self, run: Run, key: str, name: str) -> Path:
        stored = run.handle.get(key)
        return Path(stored) if stored else self.run_dir(run) / name

    # -- Target -------------------------------------------------------------------------
    def validate(self, spec: RunSpec, resolved: JsonObject) -> None:
        parse_config(resolved)
        if spec.docker_image:  # refused, not silently ignored: the run would not be what was asked
            raise InvalidInput(
                "local-process runs commands, not images: give a uri and an entry point instead",
                field="docker_image",
            )
        if not spec.entry_point or not spec.entry_point[0]:
            raise InvalidInput(
                "local-process runs need an entry point (the command to run)", field="entry_point"
            )
        for key, value in spec.env.items():
            if "\0" in value:
                raise InvalidInput("must not contain NUL characters", field=f"env.{key}")
        check_local_source(spec, self.code_store)

    def submit(self, run: Run) -> dict[str, str]:
        try:
            config = parse_config(run.resolved)
            run_dir = self.run_dir(run)
        except InvalidInput as exc:
            raise LaunchFailed(str(exc)) from None
        if not run.spec.entry_point:
            raise LaunchFailed("no entry point to run")
        run_dir.mkdir(parents=True, exist_ok=True)
        host = self.host  # before the job starts: a job must never run without its host
        earlier = started_before(run_dir, run.preemptions)
        if earlier is not None:  # this attempt's job was started by a launch whose record was lost
            return self._handle(run_dir, earlier, host)
        workspace, log, exit_file = run_dir / "workspace", run_dir / "output.log", run_dir / "exit_code"
        for stale in (exit_file, run_dir / "stop_requested"):
            stale.unlink(missing_ok=True)
        begin_attempt(run_dir, run.preemptions)
        prepare_local_workspace(
            workspace, run.spec, self.code_store, timeout=self.clone_timeout, exclude=self.data_dir
        )
        workdir = self._workdir(workspace, config)
        env = self._environment(run, config)
        argv = [*run.spec.entry_point, *run.spec.args]
        check_executable(argv[0], workdir, env)
        with log.open("wb") as log_file:
            try:
                proc = subprocess.Popen(
                    supervisor_argv(exit_file, argv),
                    cwd=workdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except (OSError, ValueError) as exc:
                raise LaunchFailed(f"cannot start {argv[0]!r}: {exc}") from None
        record_supervisor(run_dir, proc.pid)
        with self._lock:
            self._supervisors[run.id] = proc
            self._supervisor_codes.pop(run.id, None)
        self._exits.watch(run.id, proc)
        return self._handle(run_dir, proc.pid, host)

    @staticmethod
    def _handle(run_dir: Path, pid: int, host: str) -> dict[str, str]:
        return {
            "pid": str(pid),
            "pgid": str(pid),  # a new session's leader leads its own process group
            "workspace": str(run_dir / "workspace"),
            "log": str(run_dir / "output.log"),
            "exit_file": str(run_dir / "exit_code"),
            HOST_KEY: host,
        }

    @cached_property
    def host(self) -> str:
        """The id of this machine and data directory (``local_process_host``), made once."""
        return host_id(self.data_dir)

    def sees(self, run: Run) -> bool:
        """Only jobs of this host; a run without a host key (from before hosts) is seen."""
        return run.handle.get(HOST_KEY, self.host) == self.host

    def status(self, run: Run) -> TargetStatus:
        self._reap()
        if "pgid" not in run.handle:
            return TargetStatus(state="lost", detail="the run has no local-process handle")
        pgid = int(run.handle["pgid"])
        exit_file = self._path(run, "exit_file", "exit_code")
        code = _read_exit_code(exit_file)
        if code is None:
            if _group_alive(pgid):
                return TargetStatus(state="running", detail=f"process group {pgid}")
            code = _read_exit_code(exit_file)  # it may have finished between the two looks
        if code is None:
            code = self._record_supervisor_code(run.id, exit_file)
        return _ended(code, self._stop_marker(run).exists(), pgid)

    def watch(self, notify: Callable[[str], None] | None) -> None:
        with self._lock:
            self._notify = notify
        self._exits.keep_warm(notify is not None)

    def stop(self, run: Run) -> None:
        self._reap()
        if "pgid" not in run.handle:
            return
        pgid = int(run.handle["pgid"])
        if _read_exit_code(self._path(run, "exit_file", "exit_code")) is not None and not _group_alive(pgid):
            return
        marker = self._stop_marker(run)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        with self._lock:
            pending = self._timers.get(run.id)
            if pending is not None and pending.is_alive():
                return
            _signal_group(pgid, signal.SIGTERM)
            grace = parse_config(run.resolved).grace_period_seconds
            timer = threading.Timer(
                self.grace_seconds if grace is None else grace, self._escalate, args=(run.id, pgid)
            )
            timer.daemon = True
            self._timers[run.id] = timer
            timer.start()

    def logs(self, run: Run, offset: int = 0) -> tuple[str, int]:
        if offset < 0:
            raise InvalidInput("must be 0 or more", field="offset")
        log = self._path(run, "log", "output.log")
        try:
            with log.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read(MAX_LOG_READ)
        except FileNotFoundError:
            return "", offset
        done = _read_exit_code(self._path(run, "exit_file", "exit_code")) is not None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = decoder.decode(chunk, final=done and len(chunk) < MAX_LOG_READ)
        pending = decoder.getstate()[0]  # an incomplete character, left for the next read
        return text, offset + len(chunk) - len(pending)

    # -- helpers ------------------------------------------------------------------------
    def _stop_marker(self, run: Run) -> Path:
        return self._path(run, "log", "output.log").with_name("stop_requested")

    @staticmethod
    def _workdir(workspace: Path, config: LocalProcessConfig) -> Path:
        if config.workdir is None:
            return workspace
        workdir = (workspace / config.workdir).resolve()
        if not workdir.is_relative_to(workspace.resolve()):
            raise LaunchFailed(f"workdir {config.workdir!r} leaves the workspace")
        if not workdir.is_dir():
            raise LaunchFailed(f"workdir {config.workdir!r} is not a directory of the workspace")
        return workdir

    @staticmethod
    def _environment(run: Run, config: LocalProcessConfig) -> dict[str, str]:
        env = {**inherited(os.environ, config.inherit_env), **config.env, **run.spec.env}
        env.update(secret_env(config.secrets, os.environ))
        env.update(
            LAUNCHQ_RUN_ID=run.id,
            LAUNCHQ_QUEUE=run.queue,
            WANDB_LAUNCH="True",
            WANDB_RUN_ID=run.id,
            WANDB_LAUNCH_QUEUE_NAME=run.queue,
            WANDB_PROJECT=(run.spec.project or "uncategorized").lower(),  # as W&B (macros.project_name)
            WANDB_ENTITY=run.entity,
        )
        return env

    def _reap(self, run_id: str | None = None) -> None:
        """Collect supervisors that ended (no zombies); remember how they ended. Only
        ``run_id``'s when given (its exit notice), else every one this process started."""
        with self._lock:
            for key in [run_id] if run_id is not None else list(self._supervisors):
                proc = self._supervisors.get(key)
                code = proc.poll() if proc is not None else None
                if proc is not None and code is not None:
                    del self._supervisors[key]
                    self._supervisor_codes[key] = code

    def _job_exited(self, run_id: str) -> None:
        """A watched supervisor is gone (the exit file, when it could write one, is in
        place): reap it and tell whoever watches."""
        self._reap(run_id)
        with self._lock:
            notify = self._notify
        if notify is not None:
            notify(run_id)

    def _record_supervisor_code(self, run_id: str, exit_file: Path) -> int | None:
        """After the group is gone without an exit file: the supervisor's own code, persisted.

        Only known to the server process that started the job; a SIGKILL of the group kills
        the supervisor with the job, so its code is the job's fate.
        """
        with self._lock:
            code = self._supervisor_codes.get(run_id)
        if code is not None:
            write_exit_code(exit_file, code)
        return code

    def _escalate(self, run_id: str, pgid: int) -> None:
        """The grace period is over: SIGKILL whatever is left of the group."""
        _signal_group(pgid, signal.SIGKILL)
        self._reap()
        with self._lock:
            self._timers.pop(run_id, None)


def _ended(code: int | None, stop_requested: bool, pgid: int) -> TargetStatus:
    """The status of a job whose process group is gone, from its exit code (if recorded)."""
    if code is None:
        if stop_requested:
            return TargetStatus(state="stopped", detail=f"process group {pgid} was stopped")
        return TargetStatus(
            state="lost",
            detail=f"process group {pgid} is gone and no exit code was recorded "
            "(the supervisor was killed or the machine restarted)",
        )
    if code == 0:
        return TargetStatus(state="finished", exit_code=0)
    if stop_requested and code in STOP_CODES:
        return TargetStatus(state="stopped", exit_code=code, detail=f"stopped ({_describe(code)})")
    # a plain exit code is already in the status (and in the run's reason); a signal is not
    return TargetStatus(state="failed", exit_code=code, detail=_describe(code) if code < 0 else "")
