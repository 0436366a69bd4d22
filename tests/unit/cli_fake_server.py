"""A tiny real HTTP server for CLI tests: records every request and answers canned JSON.

It speaks HTTP on 127.0.0.1 like the real API does, so the CLI's httpx client, headers,
query strings and error handling are exercised for real; only the answers are scripted.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from typer.testing import CliRunner, Result

from tests.loopback_http import LoopbackServer, QuietHandler


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it (header names lower-cased, body parsed as JSON)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


Responder = Callable[[Recorded], tuple[int, Any]]


class FakeApi(LoopbackServer):
    """Scripted answers per (method, path); each route's last answer repeats."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._routes: dict[tuple[str, str], list[Responder]] = {}
        self._lock = threading.Lock()
        super().__init__(_handler_for(self))

    def reply(self, method: str, path: str, status: int = 200, body: Any = None) -> None:
        """Answer the next ``method path`` with ``status`` and JSON ``body`` (None: no body)."""
        self.reply_with(method, path, lambda _request: (status, body))

    def reply_with(self, method: str, path: str, responder: Responder) -> None:
        """Answer the next ``method path`` with whatever ``responder`` computes from the request."""
        self._routes.setdefault((method, path), []).append(responder)

    def calls(self, method: str, path: str) -> list[Recorded]:
        """The recorded requests to one route, oldest first."""
        return [r for r in self.requests if r.method == method and r.path == path]

    def answer(self, request: Recorded) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(request)
            queue = self._routes.get((request.method, request.path))
            if not queue:
                return 404, {
                    "error": "not_found",
                    "detail": f"fake: no route {request.method} {request.path}",
                }
            responder = queue.pop(0) if len(queue) > 1 else queue[0]
        return responder(request)


def _handler_for(fake: FakeApi) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            raw = self.read_body()
            request = Recorded(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=json.loads(raw) if raw else None,
            )
            status, body = fake.answer(request)
            payload = b"" if body is None else json.dumps(body).encode()
            self.answer(status, {"Content-Type": "application/json"} if payload else {}, payload)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

    return Handler


def cli(fake: FakeApi, *args: str) -> Result:
    """Invoke the CLI in-process against ``fake``."""
    from launchq.cli.main import app

    return CliRunner().invoke(app, ["--url", fake.url, *args])


def run_record(run_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": run_id,
        "queue": "gpu",
        "entity": "local",
        "project": None,
        "name": None,
        "state": "queued",
        "priority": "medium",
        "position": None,
        "exit_code": None,
        "reason": "",
        "created_at": "2026-01-02T03:04:05+00:00",
        "updated_at": "2026-01-02T03:04:05+00:00",
        "started_at": None,
        "finished_at": None,
        "spec": {"entry_point": ["python", "train.py"], "args": []},
        "resolved": {},
        **fields,
    }
