"""Image registries for tests.

``docker_registry`` runs Debian's ``docker-registry`` (the CNCF distribution server, the
registry behind Docker Hub) as a real process on a free 127.0.0.1 port, with filesystem
storage in a temporary directory and, optionally, htpasswd users. Missing means a broken
set-up (``make setup`` installs it), so it raises -- never skips.

``ChallengeRegistry`` is a small HTTP server for the clouds that have no local registry
(Artifact Registry, ACR): it answers manifest HEADs behind a Bearer challenge, issues
tokens at its realm against HTTP basic credentials, and implements ACR's
``/oauth2/exchange``. It records what it was sent.
"""

from __future__ import annotations

import base64
import importlib
import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.servers import free_port, stop_process

_CONFIG = """\
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
{auth}"""


def _bcrypt(password: str) -> str:
    """A bcrypt hash for htpasswd (Python's crypt module, present up to 3.12)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        crypt = importlib.import_module("crypt")
    return str(crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 4)))


def _wait_registry(base: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/v2/", timeout=1).status_code in (200, 401):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"docker-registry at {base} did not become ready:\n{log.read_text()}")


@contextmanager
def docker_registry(workdir: Path, *, users: Mapping[str, str] | None = None) -> Iterator[str]:
    """A real OCI registry on a free port; yields its ``127.0.0.1:PORT`` host.

    With ``users`` (name -> password) it requires HTTP basic auth (htpasswd, bcrypt).
    """
    executable = shutil.which("docker-registry")
    if executable is None:
        raise RuntimeError(
            "docker-registry is not installed (apt-get install docker-registry); run `make setup`"
        )
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    auth = ""
    if users:
        htpasswd = workdir / f"htpasswd-{port}"
        htpasswd.write_text("".join(f"{name}:{_bcrypt(secret)}\n" for name, secret in users.items()))
        auth = f"auth:\n  htpasswd:\n    realm: launchq-test\n    path: {htpasswd}\n"
    config = workdir / f"registry-{port}.yml"
    config.write_text(_CONFIG.format(root=workdir / f"registry-{port}-data", port=port, auth=auth))
    log = workdir / f"registry-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [executable, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_registry(f"http://127.0.0.1:{port}", proc, log)
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(proc)


@dataclass
class ChallengeRegistry:
    """A registry stand-in behind a Bearer challenge; ``url`` is set once it serves."""

    service: str
    username: str
    password: str
    tags: dict[str, set[str]]
    aad_token: str = ""
    refresh_token: str = ""
    issued: str = "registry-token-1"
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __enter__(self) -> ChallengeRegistry:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- the routes ---------------------------------------------------------------------
    def manifest(self, repo: str, tag: str, authorization: str) -> tuple[int, dict[str, str], bytes]:
        if authorization != f"Bearer {self.issued}":
            challenge = (
                f'Bearer realm="{self.url}/token",service="{self.service}",scope="repository:{repo}:pull"'
            )
            return 401, {"WWW-Authenticate": challenge}, b""
        if tag in self.tags.get(repo, set()):
            return 200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, b""
        return 404, {}, b""

    def token(self, query: dict[str, str], authorization: str) -> tuple[int, dict[str, str], bytes]:
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if authorization != f"Basic {expected}" or query.get("service") != self.service:
            return 401, {}, b'{"errors": [{"code": "UNAUTHORIZED"}]}'
        return 200, {"Content-Type": "application/json"}, json.dumps({"token": self.issued}).encode()

    def exchange(self, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        good = (
            form.get("grant_type") == "access_token"
            and form.get("service") == self.service
            and form.get("access_token") == self.aad_token
        )
        if not good:
            return 401, {}, b'{"errors": [{"code": "UNAUTHORIZED"}]}'
        body = json.dumps({"refresh_token": self.refresh_token}).encode()
        return 200, {"Content-Type": "application/json"}, body


def _handler(stub: ChallengeRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _record(self, **extra: Any) -> urllib.parse.SplitResult:
            url = urllib.parse.urlsplit(self.path)
            stub.requests.append(
                {
                    "method": self.command,
                    "path": url.path,
                    "query": dict(urllib.parse.parse_qsl(url.query)),
                    "authorization": self.headers.get("Authorization", ""),
                    "accept": self.headers.get("Accept", ""),
                    **extra,
                }
            )
            return url

        def do_HEAD(self) -> None:
            path = self._record().path
            repo, sep, tag = path.removeprefix("/v2/").rpartition("/manifests/")
            if not path.startswith("/v2/") or not sep:
                self._answer(404, {}, b"")
                return
            self._answer(*stub.manifest(repo, tag, self.headers.get("Authorization", "")))

        def do_GET(self) -> None:
            url = self._record()
            if url.path != "/token":
                self._answer(404, {}, b"")
                return
            query = dict(urllib.parse.parse_qsl(url.query))
            self._answer(*stub.token(query, self.headers.get("Authorization", "")))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            url = self._record(form=form)
            if url.path != "/oauth2/exchange":
                self._answer(404, {}, b"")
                return
            self._answer(*stub.exchange(form))

    return Handler
