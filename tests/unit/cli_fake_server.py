"""A tiny real HTTP server for CLI tests: records every request and answers canned JSON.

It speaks HTTP on 127.0.0.1 like the real API does, so the CLI's httpx client, headers,
query strings and error handling are exercised for real; only the answers are scripted.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from typer.testing import CliRunner, Result


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it (header names lower-cased, body parsed as JSON)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


Responder = Callable[[Recorded], tuple[int, Any]]


class FakeApi:
    """Scripted answers per (method, path); each route's last answer repeats."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._routes: dict[tuple[str, str], list[Responder]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

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

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler_for(fake: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = Recorded(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=json.loads(raw) if raw else None,
            )
            status, body = fake.answer(request)
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if payload:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

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
