"""A raw-socket HTTP/1.1 client for tests that must misbehave: half-sent bodies, dribbled bytes,
Content-Lengths that lie. (httpx always sends whole, well-formed requests.)"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from http.client import HTTPResponse
from typing import Any
from urllib.parse import urlsplit


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def connect(base: str, timeout: float = 10) -> socket.socket:
    url = urlsplit(base)
    return socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=timeout)


def send_head(sock: socket.socket, method: str, path: str, headers: dict[str, str]) -> None:
    """Send the request line and headers only; the body (if any) is up to the caller."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


def read_answer(sock: socket.socket, method: str = "POST") -> RawAnswer:
    response = HTTPResponse(sock, method=method)
    response.begin()
    body = response.read()
    return RawAnswer(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
