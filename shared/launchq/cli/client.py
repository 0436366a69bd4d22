"""A small typed client for the launchq HTTP API: one method per endpoint.

Every transport or HTTP failure leaves this module as a ``CliError``: ``Unreachable`` when
no answer came back, ``ApiError`` (status, ``error``, ``detail``) when the API said no. A 401/403
never comes from launchq itself, only from API Gateway's IAM auth in front of it, so it is told
apart with what to check (signing on or off, where the credentials came from). A URL that
answers, but not as launchq would (an HTML page, another service's JSON), is told apart too:
``GET /healthz`` is asked, and the error says what answered there instead (``NotLaunchq``).

httpx is imported on the first client, not with this module: ``launchq --help`` and every
command that fails before talking to the API start without it (see ``_httpx``).
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote

from launchq.cli.errors import ApiError, CliError, Unreachable

if TYPE_CHECKING:
    import httpx

    from launchq.cli.auth import AwsSigV4
    from launchq.cli.progress import Progressed

JsonObject = dict[str, Any]
DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 30.0
HEALTH_PATH = "/healthz"


def _httpx() -> ModuleType:
    """httpx, imported when the first client is made.

    ``import httpx`` also imports httpx's own command line (``httpx._main``: rich, pygments,
    click), only to offer ``httpx.main``, which launchq never calls; that is about half of
    httpx's import time, so it is marked absent first unless something imported it already
    (httpx then defines a stand-in ``main`` that asks for ``httpx[cli]``).
    """
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    import httpx

    return httpx


UPLOAD_PIECE_BYTES = 48 * 1024
"""Archive bytes per streamed piece of ``POST /code``: a multiple of 3, so each piece is
base64-encoded on its own and the pieces join into one valid base64 text."""
_CODE_HEAD = b'{"data": "'
_CODE_TAIL = b'"}'


def _code_body(archive: bytes, progress: Progressed | None) -> Iterator[bytes]:
    """``{"data": "<base64 of archive>"}`` in pieces; ``progress`` after each piece was taken."""
    yield _CODE_HEAD
    total = len(archive)
    for start in range(0, total, UPLOAD_PIECE_BYTES):
        yield base64.b64encode(archive[start : start + UPLOAD_PIECE_BYTES])
        # the transport asks for the next piece only once it has written this one
        if progress is not None:
            progress(min(start + UPLOAD_PIECE_BYTES, total), total)
    yield _CODE_TAIL


class NotLaunchq(CliError):
    """The URL answers HTTP, but what answers is not launchq (exit 2: the URL is the mistake)."""

    def __init__(self, base_url: str, health: str) -> None:
        super().__init__(f"{base_url}: not a launchq API (GET {HEALTH_PATH} returned {health})")


def _is_json(response: httpx.Response) -> bool:
    return "json" in response.headers.get("content-type", "").lower()


def _looks_foreign(response: httpx.Response) -> bool:
    """Whether launchq (or the API Gateway in front of it) could not have sent ``response``:
    a body that is not JSON, or an error whose JSON has neither ``error`` nor ``message``."""
    if not response.content:
        return False  # 204 and friends: launchq's own empty answers
    if not _is_json(response):
        return True
    if response.status_code < 400:
        return False
    try:
        body = response.json()
    except ValueError:
        return True
    return not (isinstance(body, dict) and ("error" in body or "message" in body))


def _health_summary(response: httpx.Response) -> str:
    """What ``GET /healthz`` answered, in a few words: status, reason and the content type."""
    kind = response.headers.get("content-type", "").split(";")[0].strip() or "no content type"
    return f"{response.status_code} {response.reason_phrase}, {kind}".strip()


def is_launchq_health(response: httpx.Response) -> bool:
    """Whether ``response`` is launchq's ``GET /healthz``: 200, ``{"status": "ok", "version": ...}``."""
    if response.status_code != 200 or not _is_json(response):
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("status") == "ok" and "version" in body


@dataclass(frozen=True)
class LogChunk:
    """One page of a run's output and where the next page starts."""

    text: str
    next_offset: int
    state: str


def _segment(value: str) -> str:
    """Quote one path segment so a name can never change which endpoint is called."""
    return quote(value, safe="")


def _error_detail(detail: Any) -> str:
    """Flatten ``detail``: a string, or a pydantic-style list of ``{loc, msg}`` items."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict) and "msg" in item:
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item['msg']}" if loc else str(item["msg"]))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return "" if detail is None else str(detail)


def api_error(response: httpx.Response) -> ApiError:
    """Build the ``ApiError`` for an HTTP error answer, whatever shape its body has."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text.strip().splitlines()
        return ApiError(response.status_code, response.reason_phrase, text[0][:200] if text else "")
    error = str(body.get("error") or response.reason_phrase)
    # API Gateway's own answers (auth, throttling, unknown route) are {"message": ...}
    detail = _error_detail(body.get("detail")) or str(body.get("message") or "") or error
    field = body.get("field")
    if field and not detail.startswith(f"{field}:"):
        detail = f"{field}: {detail}"
    return ApiError(response.status_code, error, detail)


def auth_refused(response: httpx.Response, base_url: str, signer: AwsSigV4 | None) -> ApiError:
    """The error for a 401/403 from API Gateway: what it said, and what to check next."""
    said = api_error(response).detail
    if signer is None:
        hint = (
            "the request was not signed; an API deployed with IAM auth (ApiAuth=AWS_IAM) needs "
            "--auth aws-iam (or LAUNCHQ_AUTH=aws-iam) and AWS credentials"
        )
    else:
        hint = (
            f"the request was signed (SigV4, region {signer.region}, credentials from {signer.source}); "
            "check that they are valid, current, and allowed execute-api:Invoke on this API"
        )
    message = f"{base_url} refused the request (HTTP {response.status_code}): {said} — {hint}"
    return ApiError(response.status_code, response.reason_phrase, message)


class ApiClient:
    """Talks to one launchq API at ``base_url``; use it as a context manager."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        signer: AwsSigV4 | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise CliError(f"--url: {base_url!r} is not an http:// or https:// URL")
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        if transport is None and self.base_url.startswith("http://"):
            # every request goes to base_url (no redirects followed), so TLS is never spoken:
            # a transport that skips loading the CA bundle, ~50 ms of each command's start
            transport = _httpx().HTTPTransport(verify=False)
        self._http = _httpx().Client(
            base_url=self.base_url, timeout=timeout, transport=transport, auth=signer
        )
        self._checked = False  # whether GET /healthz has shown that launchq answers here

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    # -- plumbing ---------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        json: JsonObject | None = None,
        params: dict[str, str | int] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | Iterable[bytes] | None = None,
    ) -> httpx.Response:
        response = self._send(method, path, json=json, params=params, headers=headers, content=content)
        if _looks_foreign(response):
            self._check_launchq()
        if response.status_code in (401, 403):
            raise auth_refused(response, self.base_url, self.signer)
        if response.status_code >= 400:
            raise api_error(response)
        return response

    def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        """One HTTP exchange; a transport failure becomes Unreachable, saying which."""
        httpx = _httpx()
        try:
            return self._http.request(method, path, **options)
        except httpx.ConnectError:
            raise Unreachable(
                f"cannot reach launchq at {self.base_url} — is `launchq serve` running?"
            ) from None
        except httpx.TimeoutException:
            raise Unreachable(f"launchq at {self.base_url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise Unreachable(f"talking to launchq at {self.base_url} failed: {exc}") from None

    def _check_launchq(self) -> None:
        """Ask ``GET /healthz`` whether launchq answers at the URL (once per client).

        Called when an answer could not have come from launchq. Raises NotLaunchq when the
        health check is not launchq's; returns when it is, so the odd answer is reported as
        it stands.
        """
        if self._checked:
            return
        health = self._send("GET", HEALTH_PATH)
        if not is_launchq_health(health):
            raise NotLaunchq(self.base_url, _health_summary(health))
        self._checked = True

    def _object(self, response: httpx.Response) -> JsonObject:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._check_launchq()
            raise Unreachable(
                f"unexpected answer from launchq at {self.base_url}: "
                f"{response.request.method} {response.request.url.path} did not return a JSON object"
            )
        return body

    def _list(self, response: httpx.Response, key: str) -> list[JsonObject]:
        items = self._object(response).get(key)
        if not isinstance(items, list):
            self._check_launchq()
            raise Unreachable(f"unexpected answer from launchq: no {key!r} list")
        return [item for item in items if isinstance(item, dict)]

    # -- queues -----------------------------------------------------------------------
    def create_queue(self, body: JsonObject) -> JsonObject:
        """``POST /queues``; 409 if the name is taken."""
        return self._object(self._request("POST", "/queues", json=body))

    def list_queues(self) -> list[JsonObject]:
        """``GET /queues``."""
        return self._list(self._request("GET", "/queues"), "queues")

    def get_queue(self, name: str) -> JsonObject:
        """``GET /queues/{name}``."""
        return self._object(self._request("GET", f"/queues/{_segment(name)}"))

    def update_queue(self, name: str, changes: JsonObject) -> JsonObject:
        """``PATCH /queues/{name}`` with only the fields to change."""
        return self._object(self._request("PATCH", f"/queues/{_segment(name)}", json=changes))

    def delete_queue(self, name: str, *, force: bool = False) -> None:
        """``DELETE /queues/{name}``; ``force``: ``?force=true``, which stops the queue's runs
        first and answers 409 (an ApiError) while some are still stopping."""
        params: dict[str, str | int] | None = {"force": "true"} if force else None
        self._request("DELETE", f"/queues/{_segment(name)}", params=params)

    def stop_runs(self, queue: str, states: list[str] | None = None) -> JsonObject:
        """``POST /queues/{queue}/stop``: ``{queue, stopped: [ids], count}``; every run not
        ended when ``states`` is None."""
        body: JsonObject = {} if states is None else {"states": states}
        return self._object(self._request("POST", f"/queues/{_segment(queue)}/stop", json=body))

    # -- runs -------------------------------------------------------------------------
    def enqueue_run(self, queue: str, spec: JsonObject, *, idempotency_key: str | None = None) -> JsonObject:
        """``POST /queues/{queue}/runs``; answers ``{id, state, position, queue, priority}``."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        response = self._request("POST", f"/queues/{_segment(queue)}/runs", json=spec, headers=headers)
        return self._object(response)

    def list_runs(
        self, *, queue: str | None = None, state: str | None = None, limit: int | None = None
    ) -> list[JsonObject]:
        """``GET /runs?queue=&state=&limit=``, newest first (left out when not given)."""
        params: dict[str, str | int] = {} if limit is None else {"limit": limit}
        if queue:
            params["queue"] = queue
        if state:
            params["state"] = state
        return self._list(self._request("GET", "/runs", params=params), "runs")

    def get_run(self, run_id: str) -> JsonObject:
        """``GET /runs/{id}``, events included."""
        return self._object(self._request("GET", f"/runs/{_segment(run_id)}"))

    def get_logs(self, run_id: str, offset: int = 0, source: str = "job") -> LogChunk:
        """``GET /runs/{id}/logs?offset=N&source=job|build``: the output from ``offset`` on."""
        params: dict[str, str | int] = {"offset": offset, "source": source}
        response = self._request("GET", f"/runs/{_segment(run_id)}/logs", params=params)
        body = self._object(response)
        try:
            return LogChunk(str(body["text"]), int(body["next_offset"]), str(body["state"]))
        except (KeyError, TypeError, ValueError):
            raise Unreachable("unexpected answer from launchq: logs without text/next_offset/state") from None

    def stop_run(self, run_id: str) -> JsonObject:
        """``POST /runs/{id}/stop``; answers the run (202)."""
        return self._object(self._request("POST", f"/runs/{_segment(run_id)}/stop"))

    def replay_run(self, run_id: str) -> JsonObject:
        """``POST /runs/{id}/replay``: the dead-lettered run, back in line (200)."""
        return self._object(self._request("POST", f"/runs/{_segment(run_id)}/replay"))

    # -- launch jobs ------------------------------------------------------------------
    def create_job(self, body: JsonObject) -> JsonObject:
        """``POST /jobs``: the job's next version (``{name, version, ...}``)."""
        return self._object(self._request("POST", "/jobs", json=body))

    def list_jobs(self) -> list[JsonObject]:
        """``GET /jobs``: the latest version of every job."""
        return self._list(self._request("GET", "/jobs"), "jobs")

    def get_job(self, name: str, version: str | None = None) -> JsonObject:
        """``GET /jobs/{name}`` (the latest, with ``versions``) or ``/jobs/{name}/versions/{version}``."""
        path = f"/jobs/{_segment(name)}"
        if version is not None:
            path = f"{path}/versions/{_segment(version)}"
        return self._object(self._request("GET", path))

    # -- schedules --------------------------------------------------------------------
    def create_schedule(self, body: JsonObject) -> JsonObject:
        """``POST /schedules`` with ``{name, queue, cron, run}``."""
        return self._object(self._request("POST", "/schedules", json=body))

    def list_schedules(self) -> list[JsonObject]:
        """``GET /schedules``."""
        return self._list(self._request("GET", "/schedules"), "schedules")

    def delete_schedule(self, name: str) -> None:
        """``DELETE /schedules/{name}``."""
        self._request("DELETE", f"/schedules/{_segment(name)}")

    def upload_code(self, archive: bytes, progress: Progressed | None = None) -> str:
        """``POST /code`` with a tar.gz; returns its ``code://`` reference.

        The body (``{"data": "<base64>"}``, the one format API Gateway and the local server
        both pass through) is streamed in pieces of ``UPLOAD_PIECE_BYTES`` archive bytes, and
        ``progress(done, total)`` is told after each piece has been handed to the connection,
        so a bar shows what was really sent. A signed request is the exception: SigV4 hashes
        the whole body before anything is sent, so it goes in one piece and progress is told
        once, when the API has answered.
        """
        total = len(archive)
        length = len(_CODE_HEAD) + 4 * ((total + 2) // 3) + len(_CODE_TAIL)
        headers = {"Content-Type": "application/json", "Content-Length": str(length)}
        if self.signer is not None:
            body: bytes | Iterable[bytes] = b"".join(_code_body(archive, None))
        else:
            body = _code_body(archive, progress)
        answer = self._object(self._request("POST", "/code", content=body, headers=headers))
        uri = answer.get("uri")
        if not isinstance(uri, str):
            raise Unreachable("unexpected answer from launchq: POST /code without a uri")
        if progress is not None and self.signer is not None:
            progress(total, total)
        return uri
