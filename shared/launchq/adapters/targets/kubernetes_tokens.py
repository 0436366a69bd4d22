"""Bearer tokens for managed clusters (EKS, GKE, AKS): cached per cluster, refreshed before expiry.

The serverless dispatcher has no kubeconfig and no cloud CLI: each cloud's module finds the
cluster's endpoint and certificate authority through its API and mints a short-lived token
with the SDK's default credentials. ``bearer_configuration`` turns that into a client
``Configuration`` whose ``refresh_api_key_hook`` -- called by the kubernetes client before
every request -- takes the token from ``TOKENS``: one token per cluster for the process (the
target's clients, a builder's, a watch thread share it), minted again ``MARGIN_SECONDS``
before it expires, so a long-lived dispatcher never sends a stale one.

The first token is minted when the configuration is built: the client sends a bearer token
only when one is already set, and missing credentials are reported at submit, not by a 401.
Tokens are never logged nor put in an error.
"""

from __future__ import annotations

import base64
import binascii
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from launchq.errors import BackendUnavailable, LaunchFailed

__all__ = [
    "MARGIN_SECONDS",
    "OPTIONS_FIELD",
    "TOKENS",
    "Token",
    "TokenCache",
    "bearer_configuration",
    "cloud_json",
    "decoded_ca",
]

#: Where a queue names its cluster: errors about it name fields under this.
OPTIONS_FIELD = "resource_args.kubernetes.launchq"
MARGIN_SECONDS = 300.0


class Token(NamedTuple):
    """A bearer token and when it expires (seconds since the epoch; ``inf``: when the SDK says)."""

    value: str
    expires_at: float


class TokenCache:
    """One token per cluster key, reused until ``margin`` seconds before its expiry."""

    def __init__(self, margin: float = MARGIN_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self._margin = margin
        self._clock = clock
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()

    def get(self, key: str, mint: Callable[[], Token]) -> str:
        """The cluster's token, minted by ``mint`` when there is none or it is about to expire.

        Raises what ``mint`` raises (launchq's errors)."""
        with self._lock:
            held = self._tokens.get(key)
            if held is None or self._clock() >= held.expires_at - self._margin:
                held = self._tokens[key] = mint()
            return held.value

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


TOKENS = TokenCache()


def decoded_ca(data: str, source: str) -> bytes:
    """The PEM of a base64 certificate authority as a cloud API returns it. Raises LaunchFailed."""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise LaunchFailed(f"{source} gave a certificate authority that is not base64") from exc


def bearer_configuration(key: str, host: str, ca_pem: bytes, mint: Callable[[], Token]) -> Any:
    """A ``kubernetes.client.Configuration`` for ``host``, trusting ``ca_pem``, its bearer token
    from ``TOKENS`` under ``key`` (minted now, then refreshed before each request as needed).

    Raises what ``mint`` raises.
    """
    from kubernetes import client  # type: ignore[import-untyped]

    configuration = client.Configuration(host=host.rstrip("/"))
    # The client takes the CA as a file path only; one small file per cluster client.
    with tempfile.NamedTemporaryFile("wb", prefix="launchq-ca-", suffix=".crt", delete=False) as ca:
        ca.write(ca_pem)
    configuration.ssl_ca_cert = ca.name

    def refresh(config: Any) -> None:
        # The key 36.x reads (with its loaders' idiom: the whole header value, no prefix).
        config.api_key["BearerToken"] = f"Bearer {TOKENS.get(key, mint)}"

    refresh(configuration)
    configuration.refresh_api_key_hook = refresh
    return configuration


def cloud_json(answer: Any, action: str, missing_field: str) -> dict[str, Any]:
    """The JSON body of a cloud REST answer (a ``requests.Response`` of the GKE or ARM API).

    Both APIs word errors as ``{"error": {"code", "message"}}``. Raises LaunchFailed naming
    ``missing_field`` on 404, LaunchFailed on other refusals (400, 401, 403: nothing a retry
    mends), BackendUnavailable on 429, 5xx or a body that is not JSON.
    """
    status = int(answer.status_code)
    try:
        body = answer.json()
    except ValueError:
        body = None
    if 200 <= status < 300 and isinstance(body, dict):
        return body
    error = body.get("error") if isinstance(body, dict) else None
    words = error.get("message") if isinstance(error, dict) else None
    detail = f"{action}: {status} {words or answer.reason or 'no JSON body'}"
    if status == 404:
        raise LaunchFailed(detail, field=missing_field)
    if status in (400, 401, 403):
        raise LaunchFailed(detail)
    raise BackendUnavailable(detail)
