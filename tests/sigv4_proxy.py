"""A stand-in for API Gateway's IAM auth: verifies SigV4 signatures, then proxies to a real server.

The verification is written here from the SigV4 specification (hashlib and hmac, no botocore):
the canonical request is rebuilt from what arrived on the socket — method, the path encoded
once more, the query decoded and re-encoded in sorted order, the headers the client says it
signed, the SHA-256 of the body as received — so a request passes only if the client signed the
bytes that actually travelled. Refusals are 403 with API Gateway's body and messages
(``{"message": ...}``); verified requests go on to ``upstream`` (a ``launchq serve`` or a
scripted fake) without the signature headers, as API Gateway passes them to the integration.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

from tests.loopback_http import LoopbackServer, QuietHandler

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=5)
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([^,]+),\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})$"
)
_NOT_FORWARDED = {"host", "authorization", "connection", "content-length", "transfer-encoding"}


@dataclass(frozen=True)
class AccessKey:
    """One caller the stand-in knows: access key id, secret, and the session token it requires."""

    access_key_id: str
    secret: str
    session_token: str | None = None


@dataclass(frozen=True)
class Received:
    """A request as it arrived: method, raw target (path and query, as sent), headers, body."""

    method: str
    target: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes


def _encode(value: str, safe: str = "-_.~") -> str:
    return quote(value, safe=safe)


def canonical_request(request: Received, signed_headers: list[str]) -> str:
    """SigV4 task 1, for a non-S3 service: the path is URI-encoded a second time."""
    parts = urlsplit(request.target)
    pairs = sorted((_encode(k), _encode(v)) for k, v in parse_qsl(parts.query, keep_blank_values=True))
    headers = "".join(f"{name}:{' '.join(request.headers[name].split())}\n" for name in signed_headers)
    return "\n".join(
        [
            request.method.upper(),
            _encode(parts.path or "/", safe="/-_.~"),
            "&".join(f"{k}={v}" for k, v in pairs),
            headers,
            ";".join(signed_headers),
            hashlib.sha256(request.body).hexdigest(),
        ]
    )


def _signature(secret: str, scope: list[str], amz_date: str, canonical: str) -> str:
    key = f"AWS4{secret}".encode()
    for part in scope[1:]:  # date, region, service, "aws4_request"
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    to_sign = "\n".join(
        [ALGORITHM, amz_date, "/".join(scope[1:]), hashlib.sha256(canonical.encode()).hexdigest()]
    )
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass
class Verifier:
    """Checks requests against known keys for one region and service, as API Gateway does."""

    keys: list[AccessKey]
    region: str
    service: str = "execute-api"
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def refusal(self, request: Received) -> str | None:  # noqa: PLR0911 - one return per check
        """None when the signature verifies; else the message API Gateway would answer with."""
        match = _AUTH.match(request.headers.get("authorization", "").strip())
        if match is None:
            return "Forbidden" if "authorization" not in request.headers else "Invalid authorization header"
        credential, signed_list, signature = match.groups()
        scope = credential.split("/")
        key = next((k for k in self.keys if k.access_key_id == scope[0]), None)
        if key is None or len(scope) != 5:
            return INVALID_TOKEN
        if key.session_token is not None and request.headers.get("x-amz-security-token") != key.session_token:
            return INVALID_TOKEN
        if scope[2:] != [self.region, self.service, "aws4_request"]:
            return f"Credential should be scoped to region {self.region} and service {self.service}."
        signed = signed_list.split(";")
        if not {"host", "x-amz-date"} <= set(signed) or any(h not in request.headers for h in signed):
            return MISMATCH
        amz_date = request.headers["x-amz-date"]
        try:
            when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return MISMATCH
        now = self.clock()
        if abs(now - when) > MAX_SKEW or scope[1] != amz_date[:8]:
            return f"Signature expired: {amz_date} is now earlier than {(now - MAX_SKEW):%Y%m%dT%H%M%SZ}"
        expected = _signature(key.secret, scope, amz_date, canonical_request(request, signed))
        return None if hmac.compare_digest(expected, signature) else MISMATCH


class SigV4Proxy(LoopbackServer):
    """A real HTTP server on loopback: verify, then forward to ``upstream``; counts both outcomes."""

    def __init__(self, verifier: Verifier, upstream: str) -> None:
        self.verifier = verifier
        self.upstream = upstream.rstrip("/")
        self.verified: list[Received] = []
        self.refused: list[tuple[Received, str]] = []
        self._lock = threading.Lock()
        self._http = httpx.Client(base_url=self.upstream, timeout=30)
        super().__init__(_handler_for(self))

    def handle(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body to answer ``request`` with."""
        refusal = self.verifier.refusal(request)
        with self._lock:
            if refusal is not None:
                self.refused.append((request, refusal))
            else:
                self.verified.append(request)
        if refusal is not None:
            kind = "InvalidSignatureException" if refusal == MISMATCH else "ForbiddenException"
            body = json.dumps({"message": refusal}).encode()
            return 403, {"content-type": "application/json", "x-amzn-errortype": kind}, body
        headers = {
            k: v for k, v in request.headers.items() if k not in _NOT_FORWARDED and not k.startswith("x-amz-")
        }
        answer = self._http.request(request.method, request.target, content=request.body, headers=headers)
        kept = {k: v for k, v in answer.headers.items() if k.lower() in {"content-type", "location"}}
        return answer.status_code, kept, answer.content

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        self._http.close()


def _handler_for(proxy: SigV4Proxy) -> type[QuietHandler]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            received = Received(self.command, self.path, headers, self.read_body())
            self.answer(*proxy.handle(received))

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    return Handler
