"""Stand-ins for reaching managed clusters in tests: an API server that demands a bearer token
(optionally over TLS with a certificate of its own), and a cloud REST API (GKE, ARM) that
answers from a table.

A real cluster refuses a request whose token it does not accept with 401; ``guarded_kube``
puts that check in front of the Kubernetes API stand-in (``tests/kube_stand_in.py``), so a
test passes only when launchq sent the right token on every request, discovery and watches
included. With ``tls``, the stand-in serves HTTPS with a self-signed certificate for
127.0.0.1: a client that does not trust exactly that CA cannot reach it.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes import client as kube_client

from launchq.adapters.targets.kubernetes import KubernetesTarget
from launchq.adapters.targets.kubernetes_options import KubeOptions
from launchq.adapters.targets.kubernetes_tokens import TOKENS
from tests import kube_stand_in
from tests.integration.test_kubernetes_target import finish_pods, launch, make_run
from tests.kube_stand_in import KubeStandIn
from tests.loopback_http import LoopbackServer, QuietHandler

LOOPBACK = ipaddress.ip_address("127.0.0.1")
UNAUTHORIZED = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}


@dataclass(frozen=True)
class Tls:
    """A self-signed certificate for 127.0.0.1 and its key, as files and the CA as base64 PEM."""

    cert: Path
    key: Path

    @property
    def ca_data(self) -> str:
        return base64.b64encode(self.cert.read_bytes()).decode()

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed(directory: Path, name: str = "stand-in") -> Tls:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(LOOPBACK)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths = Tls(directory / f"{name}.crt", directory / f"{name}.key")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


class TlsLoopback(LoopbackServer):
    """The loopback server, speaking TLS with the given certificate."""

    def __init__(self, handler: Any, tls: Tls) -> None:
        super().__init__(handler)
        self._server.socket = tls.context().wrap_socket(self._server.socket, server_side=True)

    @property
    def url(self) -> str:
        return super().url.replace("http://", "https://", 1)


@dataclass
class GuardedKube:
    api: KubeStandIn
    authorizations: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.api.url


@contextmanager
def guarded_kube(
    monkeypatch: pytest.MonkeyPatch, accepts: Callable[[str], bool], tls: Tls | None = None
) -> Iterator[GuardedKube]:
    """The Kubernetes API stand-in, answering 401 to any request whose ``Authorization``
    header ``accepts`` refuses; every header it saw is kept, in order."""
    seen: list[str] = []
    plain = kube_stand_in.handler

    def guarded(api: KubeStandIn) -> Any:
        class Guarded(plain(api)):  # type: ignore[misc]
            def _route(self, method: str) -> None:
                header = str(self.headers.get("Authorization") or "")
                seen.append(header)
                if not accepts(header):
                    self._json(401, UNAUTHORIZED)
                    return
                super()._route(method)

        return Guarded

    with monkeypatch.context() as patch:
        patch.setattr(kube_stand_in, "handler", guarded)
        if tls is not None:
            patch.setattr(kube_stand_in, "LoopbackServer", lambda handler: TlsLoopback(handler, tls))
        api = KubeStandIn()
    with api:
        yield GuardedKube(api, seen)


Route = tuple[int, dict[str, Any]]


class CloudApi:
    """A cloud REST API stand-in on 127.0.0.1 (plain HTTP): ``routes[(method, path)]`` is the
    (status, JSON body) answered; anything else is a 404 in the clouds' ``{"error": ...}``
    shape. Each request is kept as (method, path, query, Authorization)."""

    def __init__(self, routes: dict[tuple[str, str], Route]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str, dict[str, str], str]] = []
        api = self

        class Handler(QuietHandler):
            def _answer(self, method: str) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                api.requests.append((method, url.path, query, str(self.headers.get("Authorization") or "")))
                self.read_body()
                missing = (404, {"error": {"code": 404, "message": f"{url.path} was not found"}})
                status, body = api.routes.get((method, url.path), missing)
                self.answer(status, {"Content-Type": "application/json"}, json.dumps(body).encode())

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

        self._server = LoopbackServer(Handler)

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> CloudApi:
        self._server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.__exit__(None, None, None)


def repointed(kube_url: str, checks: Callable[[Any], None] = lambda _: None) -> Callable[[KubeOptions], Any]:
    """A client factory that builds the managed cluster's configuration as launchq does, lets the
    test check it, then points it at the stand-in (that cloud's endpoint cannot be reached here)."""

    def make(options: KubeOptions) -> Any:
        managed = options.managed()
        assert managed is not None
        configuration = managed.configuration()
        checks(configuration)
        configuration.host = kube_url
        return kube_client.ApiClient(configuration)

    return make


def run_to_the_end(kube: GuardedKube, target: KubernetesTarget, launchq: dict[str, Any]) -> None:
    """Launch a run on a queue naming the cluster: it starts, finishes, its watch says so, and a
    dispatcher started afresh finds it again from the handle alone."""
    ended: list[str] = []
    notified = threading.Event()
    target.watch(lambda run_id: (ended.append(run_id), notified.set()))
    try:
        run = launch(target, make_run({"launchq": launchq}))
        assert target.status(run).state == "starting"
        kube.api.advance(run.id)
        finish_pods(kube.api, run)
        assert target.status(run).state == "finished"
        assert notified.wait(10), "the watch never reported the end"
        assert ended[0] == run.id
        assert KubernetesTarget(target._factory).status(run).state == "finished"
    finally:
        target.watch(None)


@pytest.fixture(autouse=True)
def fresh_tokens() -> Iterator[None]:
    """Tokens are cached per cluster for the process: each test starts with none (import it
    into a test module, autouse does the rest)."""
    TOKENS.clear()
    yield
    TOKENS.clear()
