"""Small helpers for tests that drive a real ``launchq serve`` over HTTP."""

from __future__ import annotations

import sys
import time
from typing import Any

import httpx

TERMINAL = {"finished", "failed", "stopped", "cancelled", "dead_letter"}


def py(code: str) -> list[str]:
    """An entry point running ``code`` in this interpreter (no shell involved)."""
    return [sys.executable, "-c", code]


def wait_state(api: httpx.Client, run_id: str, states: set[str], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = api.get(f"/runs/{run_id}").json()
        if run["state"] in states:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached {states}; last: {run.get('state')} {run.get('events')}")


def create_queue(api: httpx.Client, name: str, **body: Any) -> dict[str, Any]:
    response = api.post("/queues", json={"name": name, "resource": "local-process", **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def enqueue(api: httpx.Client, queue: str, **body: Any) -> dict[str, Any]:
    response = api.post(f"/queues/{queue}/runs", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())
