"""The agent's HTTP client: one method per agent route, launchq's own errors out.

Every answer that is not a success leaves this module as a ``launchq.errors`` exception,
translated in one place (``error_for``), so the services above it (dispatcher, reconciler,
transitions) react to a remote store exactly as to a local one:

- 404 -> NotFound; 409 -> StaleWrite when the body's field is ``version`` or ``state`` (the
  run moved on), AlreadyExists for ``already_exists``, Conflict otherwise (a move the state
  machine forbids, a queue not served by agents); any other 4xx -> InvalidInput (a 401/403
  says to check the credentials);
- no answer at all (connection refused, timeout) or a 5xx -> BackendUnavailable: the
  caller's loop retries later, and a claim not reported expires back into line.

Reports (move, lease, logs) are idempotent on the server, so they are retried here on a
transport error; a claim is not (a lost answer would hold a run until its lease expires).
Auth: the CLI's SigV4 signer (``launchq.cli.auth``) or ``Authorization: Bearer <api key>``,
which is refused over plain http:// to anything but a loopback host. The key never appears
in a log line or a ``repr``.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Generator, Iterable
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from pydantic import ValidationError

from launchq.cli.auth import AuthMode, is_loopback, signer_for
from launchq.domain.models import Queue, Run, RunEvent, RunUpdate
from launchq.domain.states import RunState
from launchq.errors import (
    AlreadyExists,
    BackendUnavailable,
    Conflict,
    InvalidInput,
    LaunchqError,
    NotFound,
    StaleWrite,
)

JsonObject = dict[str, Any]
DEFAULT_TIMEOUT = 30.0
#: Transport retries of an idempotent report, and the pause before each.
REPORT_RETRY_PAUSES = (0.5, 1.0)
_STALE_FIELDS = frozenset({"version", "state"})
M = TypeVar("M", Run, RunEvent, Queue)
_AGENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def default_agent_id() -> str:
    """``<host>-<pid>``: tells agents apart in the control plane's log (it is only logged)."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:100] or "agent"
    return f"{host}-{os.getpid()}"


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <api key>`` (Helm's ``agent.apiKey``); the key is never shown."""

    def __init__(self, api_key: str) -> None:
        self._header = f"Bearer {api_key}"

    def __repr__(self) -> str:
        return "BearerAuth(<api key>)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


def agent_auth(url: str, api_key: str | None, mode: AuthMode, profile: str | None) -> httpx.Auth | None:
    """How the agent authenticates: a Bearer ``api_key`` when one is given, else the CLI's signer.

    Raises InvalidInput naming ``--api-key`` when the key would travel over plain http:// to
    a host that is not this machine, or is combined with AWS signing (both would set the
    ``Authorization`` header); CliError (from ``signer_for``) when signing cannot be set up.
    """
    if not api_key:
        return signer_for(url, mode, profile)
    if mode is AuthMode.AWS_IAM or profile is not None:
        raise InvalidInput(
            "cannot be combined with --auth aws-iam or --profile: both set the Authorization header",
            field="--api-key",
        )
    parts = urlsplit(url)
    if parts.scheme != "https" and not is_loopback(parts.hostname or ""):
        raise InvalidInput(
            f"refusing to send the API key over plain http:// to {parts.hostname}; use an https:// URL",
            field="--api-key",
        )
    return BearerAuth(api_key)


def _detail(body: JsonObject, fallback: str) -> str:
    """The error's words without the ``field: `` prefix the API puts in front (it is kept apart)."""
    detail = body.get("detail")
    text = str(detail) if detail else str(body.get("message") or body.get("error") or fallback)
    field = body.get("field")
    return text.removeprefix(f"{field}: ") if field else text


def error_for(response: httpx.Response) -> LaunchqError:
    """The launchq error an HTTP error answer stands for (see the module docstring)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        lines = response.text.strip().splitlines()
        body = {"detail": lines[0][:200] if lines else response.reason_phrase}
    status = response.status_code
    field = body.get("field") if isinstance(body.get("field"), str) else None
    detail = _detail(body, response.reason_phrase)
    if status >= 500:
        return BackendUnavailable(f"the control plane answered HTTP {status}: {detail}", field=field)
    if status == 404:
        return NotFound(detail, field=field)
    if status == 409:
        if field in _STALE_FIELDS:
            return StaleWrite(detail, field=field)
        kind = AlreadyExists if body.get("error") == "already_exists" else Conflict
        return kind(detail, field=field)
    if status in (401, 403):
        return InvalidInput(
            f"the control plane refused the agent (HTTP {status}: {detail}); check --api-key or "
            "the AWS credentials and --auth",
            field="auth",
        )
    return InvalidInput(detail, field=field)


def _runs(items: Any, what: str) -> list[Run]:
    if not isinstance(items, list):
        raise BackendUnavailable(f"unexpected answer from the control plane: {what} is not a list")
    return [_model(Run, item, what) for item in items]


def _model(kind: type[M], value: Any, what: str) -> M:
    try:
        return kind.model_validate(value)
    except ValidationError as exc:
        raise BackendUnavailable(f"unexpected answer from the control plane: {what}: {exc}") from None


def _segment(value: str) -> str:
    return quote(value, safe="")


class AgentClient:
    """Talks to the agent routes of one control plane; use it as a context manager."""

    def __init__(
        self,
        base_url: str,
        *,
        agent: str | None = None,
        auth: httpx.Auth | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        retry_pauses: Iterable[float] = REPORT_RETRY_PAUSES,
    ) -> None:
        """Raises InvalidInput naming ``--url`` or ``agent`` when either is malformed."""
        if not base_url.startswith(("http://", "https://")) or not urlsplit(base_url).hostname:
            raise InvalidInput(f"{base_url!r} is not an http:// or https:// URL", field="--url")
        self.agent = agent or default_agent_id()
        if not _AGENT_ID.match(self.agent):
            raise InvalidInput("must be 1-128 letters, digits, '.', '_' or '-'", field="agent")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry_pauses = tuple(retry_pauses)
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport, auth=auth)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- plumbing ---------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        json: JsonObject | None = None,
        params: list[tuple[str, str | int | float | bool | None]] | None = None,
        retry: bool = False,
        timeout: float | None = None,
    ) -> JsonObject:
        """One request; its JSON object answer. Raises the translated error (``error_for``)."""
        pauses = self.retry_pauses if retry else ()
        for pause in (*pauses, None):
            try:
                response = self._http.request(
                    method, path, json=json, params=params, timeout=timeout or self.timeout
                )
                break
            except httpx.TransportError as exc:
                if pause is None:
                    raise BackendUnavailable(
                        f"cannot reach the control plane at {self.base_url}: {type(exc).__name__}: {exc}"
                    ) from None
                time.sleep(pause)
        if response.status_code >= 400:
            raise error_for(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise BackendUnavailable(f"unexpected answer from the control plane: {method} {path} is not JSON")
        return body

    def _body(self, **fields: Any) -> JsonObject:
        return {"agent": self.agent, **fields}

    # -- queues (the public API: an agent reads its queues' settings and counts) -------
    def get_queue(self, name: str) -> tuple[Queue, int, int]:
        """``GET /queues/{name}``: the queue, its active and its queued run counts."""
        body = self._call("GET", f"/queues/{_segment(name)}", retry=True)
        fields = {key: value for key, value in body.items() if key in Queue.model_fields}
        try:
            counts = int(body["active"]), int(body["queued"])
        except (KeyError, TypeError, ValueError):
            raise BackendUnavailable("unexpected answer from the control plane: no queue counts") from None
        return _model(Queue, fields, f"queue {name}"), *counts

    # -- agent routes -------------------------------------------------------------------
    def claim(self, queue: str, lease_seconds: int) -> Run | None:
        """``POST /agents/claim``: the queue's next run, now claimed by this agent, or None."""
        body = self._call("POST", "/agents/claim", json=self._body(queue=queue, lease_seconds=lease_seconds))
        run = body.get("run")
        return None if run is None else _model(Run, run, "claimed run")

    def wait(self, queues: list[str], wait_seconds: float) -> tuple[list[str], bool]:
        """``POST /agents/wait``: the queues with work for an agent now, and whether the
        server long-polls (waited up to ``wait_seconds`` before answering an empty list)."""
        body = self._call(
            "POST",
            "/agents/wait",
            json=self._body(queues=queues, wait_seconds=wait_seconds),
            timeout=self.timeout + wait_seconds,
        )
        names = body.get("queues")
        if not isinstance(names, list):
            raise BackendUnavailable("unexpected answer from the control plane: wait without queues")
        return [str(name) for name in names], bool(body.get("long_poll"))

    def list_runs(self, queue: str, states: Iterable[RunState] | None = None, limit: int = 1000) -> list[Run]:
        """``GET /agents/runs``: the queue's runs in ``states``, newest first."""
        params: list[tuple[str, str | int | float | bool | None]] = [("queue", queue), ("limit", limit)]
        params += [("state", state.value) for state in states or ()]
        return _runs(self._call("GET", "/agents/runs", params=params, retry=True).get("runs"), "runs")

    def get_run(self, run_id: str) -> tuple[Run, list[RunEvent]]:
        """``GET /agents/runs/{id}``: the run and its events, oldest first."""
        body = self._call("GET", f"/agents/runs/{_segment(run_id)}", retry=True)
        events = body.get("events")
        if not isinstance(events, list):
            raise BackendUnavailable("unexpected answer from the control plane: run without events")
        return _model(Run, body.get("run"), "run"), [_model(RunEvent, e, "event") for e in events]

    def move(
        self,
        run_id: str,
        version: int,
        from_state: RunState,
        to_state: RunState,
        reason: str,
        update: RunUpdate | None = None,
    ) -> tuple[Run, bool]:
        """``POST /agents/runs/{id}/move``: the moved run, and whether it was a replay."""
        body = self._body(
            version=version,
            from_state=from_state.value,
            to_state=to_state.value,
            reason=reason,
            update=(update or RunUpdate()).model_dump(mode="json", exclude_defaults=True),
        )
        answer = self._call("POST", f"/agents/runs/{_segment(run_id)}/move", json=body, retry=True)
        return _model(Run, answer.get("run"), "moved run"), bool(answer.get("replayed"))

    def renew_lease(self, run_id: str, version: int, lease_seconds: int) -> Run:
        """``POST /agents/runs/{id}/lease``: the run with its claim extended."""
        body = self._body(version=version, lease_seconds=lease_seconds)
        answer = self._call("POST", f"/agents/runs/{_segment(run_id)}/lease", json=body, retry=True)
        return _model(Run, answer.get("run"), "renewed run")

    def ship_log(self, run_id: str, offset: int, text: str) -> int:
        """``POST /agents/runs/{id}/logs``: merge ``text`` at ``offset``; the log's end now."""
        body = self._body(offset=offset, text=text)
        answer = self._call("POST", f"/agents/runs/{_segment(run_id)}/logs", json=body, retry=True)
        try:
            return int(answer["end"])
        except (KeyError, TypeError, ValueError):
            raise BackendUnavailable("unexpected answer from the control plane: logs without end") from None
