"""One HTTP exchange with the launchq API, over the standard library or over httpx.

``ApiClient`` asks for an ``Answer`` (status, headers, the whole body) and never sees which
library fetched it. Two senders do the work:

* ``StdlibSender`` (``http.client``) for a plain ``http://`` URL with nothing to sign: the
  local API, where every call is a small JSON request (or the streamed ``POST /code``) and
  nothing needs TLS, proxies or an auth flow. ``http.client`` is part of the interpreter, and
  its import is about a third of httpx's, which was the largest part of ``launchq runs list``'s
  start. Each exchange has its own connection, closed after the answer: the local server
  closes idle keep-alive connections, and a request resent on a connection the server had
  just closed could be a POST applied twice.
* ``HttpxSender`` for everything else: ``https://`` (certificates, ``HTTPS_PROXY``/``NO_PROXY``
  from the environment), a request signed with SigV4 (an ``httpx.Auth``), or a transport a
  test hands in.

Both turn a transport failure into ``Unreachable`` with the same words, and neither follows
redirects; each request goes to the URL given. This module imports neither library itself:
``launchq --help`` and a command refused before it talks to the API load no HTTP client.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlencode, urlsplit

from launchq import __version__
from launchq.cli.errors import CliError, Unreachable

if TYPE_CHECKING:
    import httpx

Body = bytes | Iterable[bytes] | None
Params = Mapping[str, str | int] | None

USER_AGENT = f"launchq/{__version__}"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer read to its end, and the request it answers (for error messages)."""

    method: str
    path: str
    status_code: int
    reason_phrase: str
    headers: Mapping[str, str]
    """Header names lower-cased."""
    content: bytes

    def header(self, name: str) -> str:
        """A header's value ('' when absent); ``name`` in any case."""
        return self.headers.get(name.lower(), "")

    @property
    def text(self) -> str:
        """The body decoded by its ``charset`` (UTF-8 if none or unknown), undecodable bytes replaced."""
        charset = "utf-8"
        for part in self.header("content-type").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip("\"'")
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON (its encoding detected as httpx does); ValueError when it is not JSON."""
        return json.loads(self.content)


class Sender(Protocol):
    """Sends one request to the API at a base URL and reads the whole answer.

    Raises ``Unreachable`` when no answer came back (refused, timed out, cut off)."""

    def send(
        self, method: str, path: str, *, params: Params, headers: Mapping[str, str], body: Body
    ) -> Answer: ...

    def close(self) -> None: ...


def _cannot_reach(base_url: str) -> Unreachable:
    return Unreachable(f"cannot reach launchq at {base_url} — is `launchq serve` running?")


def _too_slow(base_url: str) -> Unreachable:
    return Unreachable(f"launchq at {base_url} did not answer in time")


def _broken(base_url: str, exc: BaseException) -> Unreachable:
    return Unreachable(f"talking to launchq at {base_url} failed: {exc}")


class StdlibSender:
    """``http.client`` to a plain ``http://`` API: one connection per exchange, no redirects."""

    def __init__(self, base_url: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http":
            raise ValueError(f"StdlibSender speaks plain http:// only, not {base_url!r}")
        try:
            self._port = parts.port  # None: http.client's default, 80
        except ValueError:
            raise CliError(f"--url: {base_url!r}: the port must be a number from 0 to 65535") from None
        if not parts.hostname:
            raise CliError(f"--url: {base_url!r} names no host")
        self.base_url = base_url
        self._host = parts.hostname
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout

    def send(
        self, method: str, path: str, *, params: Params, headers: Mapping[str, str], body: Body
    ) -> Answer:
        import http.client

        target = self._prefix + path + (f"?{urlencode(params)}" if params else "")
        wire = {"Accept": "*/*", "User-Agent": USER_AGENT, "Connection": "close", **headers}
        connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            connection.connect()
        except TimeoutError:
            raise _too_slow(self.base_url) from None
        except OSError:  # refused, no route, a name that does not resolve
            raise _cannot_reach(self.base_url) from None
        try:
            connection.request(method, target, body=body, headers=wire)
            response = connection.getresponse()
            content = response.read()
        except TimeoutError:
            raise _too_slow(self.base_url) from None
        except (OSError, http.client.HTTPException) as exc:
            raise _broken(self.base_url, exc) from None
        finally:
            connection.close()
        return Answer(
            method=method,
            path=unquote(target.partition("?")[0]),
            status_code=response.status,
            reason_phrase=response.reason,  # the server's own words, as httpx gives them
            headers={name.lower(): value for name, value in response.getheaders()},
            content=content,
        )

    def close(self) -> None:
        """Nothing to release: every exchange closed its own connection."""


def httpx_module() -> ModuleType:
    """httpx, imported when the first ``HttpxSender`` is made.

    ``import httpx`` also imports httpx's own command line (``httpx._main``: rich, pygments,
    click), only to offer ``httpx.main``, which launchq never calls; that is about half of
    httpx's import time, so it is marked absent first unless something imported it already
    (httpx then defines a stand-in ``main`` that asks for ``httpx[cli]``).
    """
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    import httpx

    return httpx


class HttpxSender:
    """httpx: TLS, proxies from the environment, an auth flow (SigV4), or a given transport."""

    def __init__(
        self,
        base_url: str,
        timeout: float,
        *,
        transport: httpx.BaseTransport | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        self.base_url = base_url
        self._http = httpx_module().Client(base_url=base_url, timeout=timeout, transport=transport, auth=auth)

    def send(
        self, method: str, path: str, *, params: Params, headers: Mapping[str, str], body: Body
    ) -> Answer:
        httpx = httpx_module()
        try:
            response = self._http.request(
                method, path, params=dict(params) if params else None, headers=dict(headers), content=body
            )
        except httpx.ConnectError:
            raise _cannot_reach(self.base_url) from None
        except httpx.TimeoutException:
            raise _too_slow(self.base_url) from None
        except httpx.HTTPError as exc:
            raise _broken(self.base_url, exc) from None
        return Answer(
            method=response.request.method,
            path=response.request.url.path,
            status_code=response.status_code,
            reason_phrase=response.reason_phrase,
            headers={name.lower(): value for name, value in response.headers.items()},
            content=response.content,
        )

    def close(self) -> None:
        """Release httpx's connection pool."""
        self._http.close()
