"""A small typed client for the launchq HTTP API: one method per endpoint.

Every transport or HTTP failure leaves this module as a ``CliError``: ``Unreachable`` when
no answer came back, ``ApiError`` (status, ``error``, ``detail``) when the API said no, and
``NotLaunchq`` when what answers at the URL is not launchq (what each answer means is
``launchq.cli.answers``'s to say).

The HTTP exchange itself is ``launchq.cli.transport``'s, imported on the first client, not
with this module: ``launchq --help`` and every command that fails before talking to the API
start without any HTTP library; a plain ``http://`` API is spoken to with the standard
library, the rest with httpx (see there).
"""

from __future__ import annotations

import base64
import json as jsonlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote

from launchq.cli.answers import (
    HEALTH_PATH,
    NotLaunchq,
    api_error,
    auth_refused,
    health_summary,
    is_launchq_health,
    looks_foreign,
)
from launchq.cli.errors import CliError, Unreachable

if TYPE_CHECKING:
    import httpx

    from launchq.cli.progress import Progressed
    from launchq.cli.sigv4 import AwsSigV4
    from launchq.cli.transport import Answer, Body, Sender

JsonObject = dict[str, Any]
DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 30.0

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


def _json_body(value: JsonObject) -> bytes:
    """A JSON request body, encoded as httpx's ``json=`` encodes it (what a signature covers)."""
    return jsonlib.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


@dataclass(frozen=True)
class LogChunk:
    """One page of a run's output and where the next page starts."""

    text: str
    next_offset: int
    state: str


def _segment(value: str) -> str:
    """Quote one path segment so a name can never change which endpoint is called."""
    return quote(value, safe="")


def _sender(
    base_url: str, timeout: float, transport: httpx.BaseTransport | None, signer: AwsSigV4 | None
) -> Sender:
    """The standard library for a plain http:// API with nothing to sign; httpx otherwise."""
    from launchq.cli import transport as wire

    plain = base_url.startswith("http://")
    if plain and transport is None and signer is None:
        return wire.StdlibSender(base_url, timeout)
    if plain and transport is None:
        # every request goes to base_url (no redirects followed), so TLS is never spoken:
        # a transport that skips loading the CA bundle, ~50 ms of each command's start
        transport = wire.httpx_module().HTTPTransport(verify=False)
    return wire.HttpxSender(base_url, timeout, transport=transport, auth=signer)


class ApiClient:
    """Talks to one launchq API at ``base_url``; use it as a context manager.

    ``headers`` go with every request (an API key's ``Authorization``); ``transport`` (tests)
    and ``signer`` (SigV4) are httpx's, and choose httpx as the sender.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        signer: AwsSigV4 | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise CliError(f"--url: {base_url!r} is not an http:// or https:// URL")
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        self._headers = dict(headers or {})
        self._wire = _sender(self.base_url, timeout, transport, signer)
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
        """Release the connections."""
        self._wire.close()

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
    ) -> Answer:
        headers = {**self._headers, **(headers or {})}
        if json is not None:
            content = _json_body(json)
            headers["Content-Type"] = "application/json"
        answer = self._send(method, path, params=params, headers=headers, body=content)
        if looks_foreign(answer):
            self._check_launchq()
        if answer.status_code in (401, 403):
            raise auth_refused(answer, self.base_url, self.signer)
        if answer.status_code >= 400:
            raise api_error(answer)
        return answer

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str | int] | None = None,
        headers: dict[str, str] | None = None,
        body: Body = None,
    ) -> Answer:
        """One HTTP exchange; a transport failure is Unreachable, saying which."""
        return self._wire.send(method, path, params=params, headers=headers or self._headers, body=body)

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
            raise NotLaunchq(self.base_url, health_summary(health))
        self._checked = True

    def _object(self, answer: Answer) -> JsonObject:
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._check_launchq()
            raise Unreachable(
                f"unexpected answer from launchq at {self.base_url}: "
                f"{answer.method} {answer.path} did not return a JSON object"
            )
        return body

    def _list(self, answer: Answer, key: str) -> list[JsonObject]:
        items = self._object(answer).get(key)
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
