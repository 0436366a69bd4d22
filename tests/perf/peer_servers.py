"""Private PostgreSQL and Redis servers for the peers bench, started and stopped by the harness.

Debian's own server binaries run as child processes on free loopback ports, so a bench run
never touches (or needs) a system service. PostgreSQL refuses to run as root: when the
harness is root, the cluster belongs to the ``postgres`` user that Debian's package creates.
Durability is set to the class launchq's SQLite runs in (WAL, ``synchronous=NORMAL``: no
fsync wait at commit): PostgreSQL with ``synchronous_commit=off``, Redis with no persistence.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis

from tests.servers import free_port, stop_process

INITDB_OPTIONS = ("-E", "UTF8", "--locale=C", "--no-sync")  # a bench cluster: no fsync at creation


def postgres_bin(tool: str) -> str:
    """``tool`` (``initdb``, ``postgres``) from PATH, else from Debian's versioned directory."""
    found = shutil.which(tool) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))[-1:]), None
    )
    if found is None:
        raise RuntimeError(
            f"PostgreSQL's {tool} is neither on PATH nor under /usr/lib/postgresql/*/bin: "
            "run `make apt-bench`"
        )
    return found


def _owner() -> tuple[int | None, int | None]:
    """Whom the cluster runs as: ``None`` for the caller, else (root) ``postgres``'s uid and gid."""
    if os.geteuid() != 0:
        return None, None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root and there is no `postgres` user to own the cluster") from None
    return entry.pw_uid, entry.pw_gid


def _wait_ready(probe: Callable[[], object], proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``probe`` succeeds: the port being open is not enough (PostgreSQL starts up first)."""
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            probe()
            return
        except (psycopg.OperationalError, redis.ConnectionError, redis.BusyLoadingError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not become ready:\n{log.read_text()}") from None
            time.sleep(0.1)


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """A fresh cluster (``initdb -A trust``) on a free port; yields its conninfo.

    Its directory is made here, not under the caller's work dir, because a root caller's
    temporary directories are closed to the ``postgres`` user the cluster runs as.
    """
    uid, gid = _owner()
    home = Path(tempfile.mkdtemp(prefix="launchq-bench-pg-"))
    try:
        if uid is not None and gid is not None:
            os.chown(home, uid, gid)
        data, log = home / "data", home / "postgres.log"
        subprocess.run(
            [postgres_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", *INITDB_OPTIONS],
            check=True,
            capture_output=True,
            user=uid,
            group=gid,
        )
        port = free_port()
        argv = [postgres_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(home)]
        argv += ["-c", "listen_addresses=127.0.0.1", "-c", "synchronous_commit=off"]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=uid,
                group=gid,
            )
        conninfo = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
        try:
            _wait_ready(lambda: psycopg.connect(conninfo, connect_timeout=2).close(), proc, log)
            yield conninfo
        finally:
            stop_process(proc, signal.SIGINT, timeout=15)  # PostgreSQL's "fast" shutdown: clients are cut off
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """``redis-server`` on a free port with persistence off; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not on PATH: run `make apt-bench`")
    port = free_port()
    log = workdir / f"redis-{port}.log"
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=workdir
        )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_ready(lambda: redis.Redis.from_url(url).ping(), proc, log)
        yield url
    finally:
        stop_process(proc, signal.SIGTERM, timeout=15)


@contextmanager
def worker_processes(
    argvs: list[list[str]], log: Path, env: dict[str, str]
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The peers' worker processes (one per argv), stopped by SIGTERM (their warm shutdown).

    Each gets one SIGTERM only: a second one means "stop now" to RQ and procrastinate,
    which then skip signing off.
    """
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with log.open("ab") as out:
            for argv in argvs:
                procs.append(
                    subprocess.Popen(
                        argv,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env={**os.environ, **env},
                        cwd=Path(__file__).resolve().parents[2],
                        start_new_session=True,
                    )
                )
        yield procs
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            stop_process(proc, None, timeout=15)


def check_alive(procs: list[subprocess.Popen[bytes]], log: Path) -> None:
    """Raise with the workers' log when one of them has died (a broken peer set-up)."""
    for proc in procs:
        if proc.poll() is not None:
            raise RuntimeError(f"worker {proc.pid} exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
