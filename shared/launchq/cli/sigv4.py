"""``AwsSigV4``: the httpx auth that signs the CLI's (and a remote agent's) requests for ``execute-api``.

It is apart from ``launchq.cli.auth``, which decides whether to sign and finds the
credentials, so that httpx is imported only by a command that signs a request.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import httpx

from launchq.adapters import aws_sdk

if TYPE_CHECKING:
    from launchq.adapters.aws_sdk import Credentials

SERVICE = "execute-api"
# Headers left out of the signature: set or rewritten by HTTP clients and proxies on the way
# (API Gateway sits behind such proxies); the body is covered by its hash whatever these say.
_UNSIGNED = frozenset(
    {"accept", "accept-encoding", "authorization", "connection", "content-length", "expect",
     "transfer-encoding", "user-agent"}
)  # fmt: skip


class AwsSigV4(httpx.Auth):
    """Signs each request's exact bytes (method, path, query, headers, body hash) for ``execute-api``.

    Credentials are asked for on every request (``get_frozen_credentials``), so temporary ones
    from a role or SSO are refreshed by the SDK before they expire.
    """

    requires_request_body = True

    def __init__(self, credentials: Credentials, region: str) -> None:
        self._credentials = credentials
        self.region = region

    @property
    def source(self) -> str:
        """Where the credentials came from (``env``, ``shared-credentials-file``, ...): no secret."""
        return str(getattr(self._credentials, "method", None) or "the default chain")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add ``Authorization``, ``X-Amz-Date`` (and ``X-Amz-Security-Token``) to ``request``."""
        signature = aws_sdk.sigv4_headers(
            self._credentials,
            service=SERVICE,
            region=self.region,
            method=request.method,
            url=str(request.url.copy_with(query=None)),
            params=request.url.params.multi_items(),  # a repeated key keeps every value
            headers={k: v for k, v in request.headers.items() if k.lower() not in _UNSIGNED},
            body=request.content,
        )
        request.headers.update(signature)
        yield request
