"""Hostile requests against a real ``launchq serve``: each is a 4xx naming the field, nothing is
stored, and ``/healthz`` keeps answering within a second while the request is handled and after.

One server serves the whole module (each test compares what is stored before and after), so
a request that hurt the server would also show in the tests after it.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import os
import socket
import tarfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from launchq.api.limits import MAX_BODY_BYTES, MAX_CODE_BODY_BYTES, MAX_DEPTH
from tests.functional.helpers import py, wait_state
from tests.servers import launchq_serve

PROBE_TIMEOUT = 1.0  # /healthz must answer within this, during and after each hostile request


def alias_bomb() -> str:
    """ "Billion laughs", 8 levels of 9 (9**8 = 43 million values) in under 300 bytes."""
    names = "abcdefgh"
    lines = [f"a: &a [{','.join(['lol'] * 9)}]"]
    lines += [f"{n}: &{n} [{','.join([f'*{prev}'] * 9)}]" for prev, n in itertools.pairwise(names)]
    text = "\n".join(lines) + "\n"
    assert len(text) < 300
    return text


def nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with launchq_serve(tmp_path_factory.mktemp("hostile") / "data") as url:
        yield url


@pytest.fixture
def api(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=30) as client:
        yield client


def stored(api: httpx.Client) -> tuple[list[Any], list[Any]]:
    """Everything a hostile request could have left behind: queues (with configs) and runs."""
    return api.get("/queues").json()["queues"], api.get("/runs").json()["runs"]


def healthy_meanwhile(base: str, request: Callable[[], httpx.Response]) -> httpx.Response:
    """Send ``request`` while probing ``/healthz`` (each probe must answer within a second)."""
    with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=base, timeout=PROBE_TIMEOUT) as probe:
        future = pool.submit(request)
        while True:
            assert probe.get("/healthz").status_code == 200
            if future.done():
                break
            time.sleep(0.05)
        response = future.result()
        assert probe.get("/healthz").status_code == 200
    return response


def assert_refused(response: httpx.Response, status: int, field: str, words: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()
    assert error["field"] == field, error
    assert words in error["detail"], error
    assert "Traceback" not in response.text


QUEUE = {"name": "hq", "resource": "local-process"}
RUN = {"entry_point": ["true"]}
QUEUES, RUNS = "/queues", "/queues/default/runs"
CASES = [
    pytest.param(
        QUEUES, json.dumps({**QUEUE, "config": alias_bomb()}), 422, "config", "aliases are expanded",
        id="queue-yaml-alias-bomb",
    ),
    pytest.param(
        QUEUES, json.dumps({**QUEUE, "config": "[" * 5000 + "]" * 5000}), 422, "config", "nested more than",
        id="queue-yaml-5000-deep",
    ),
    pytest.param(
        QUEUES, json.dumps({**QUEUE, "config": nested(5000)}), 422, "config", "nested more than",
        id="queue-json-text-5000-deep",
    ),
    pytest.param(
        QUEUES, '{"name": "hq", "resource": "local-process", "config": ' + nested(5000) + "}",
        422, "body", f"nested more than {MAX_DEPTH} levels", id="queue-body-5000-deep",
    ),
    pytest.param(
        QUEUES, json.dumps({**QUEUE, "config": {"env": {"A": "x" * 300_000}}}), 422, "config", "limit",
        id="queue-config-300k",
    ),
    pytest.param(
        QUEUES,
        json.dumps({
            **QUEUE,
            "config": {"x": "{{size}}"},
            "template_variables": {"size": {"type": "string", "enum": ["s"]}},
        }),
        422, "config.x", "unknown key", id="queue-key-the-target-does-not-know",
    ),
    pytest.param(
        RUNS, '{"entry_point": ["true"], "resource_args": ' + nested(5000) + "}",
        422, "body", "nested more than", id="run-resource-args-5000-deep",
    ),
    pytest.param(
        RUNS, json.dumps({**RUN, "resource_args": json.loads(nested(MAX_DEPTH))}),
        422, "body", "nested more than", id="run-body-past-the-depth-bound",
    ),
    pytest.param(
        RUNS, json.dumps({**RUN, "env": {"A": "x" * 2_000_000}}), 413, "body", "limit", id="run-env-2mb"
    ),
    pytest.param(
        RUNS, json.dumps({**RUN, "env": {"A": "x" * 600_000}}), 422, "env.A", "at most 32768",
        id="run-env-value-600k",
    ),
    pytest.param(
        RUNS, json.dumps({**RUN, "env": {f"K{i}": "v" for i in range(300)}}), 422, "env", "at most 256",
        id="run-env-300-entries",
    ),
    pytest.param(
        RUNS, json.dumps({**RUN, "args": ["a"] * 2000}), 422, "args", "at most 1024", id="run-args-2000"
    ),
    pytest.param(
        RUNS, json.dumps({**RUN, "resource_args": {"local-process": {"env": {"A": "x" * 300_000}}}}),
        422, "resource_args", "limit", id="run-resource-args-300k",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("path", "text", "status", "field", "words"), CASES)
def test_hostile_request_is_refused_nothing_is_stored_and_the_server_stays_healthy(
    base: str, api: httpx.Client, path: str, text: str, status: int, field: str, words: str
) -> None:
    before = stored(api)
    response = healthy_meanwhile(
        base, lambda: api.post(path, content=text.encode(), headers={"content-type": "application/json"})
    )
    assert_refused(response, status, field, words)
    assert stored(api) == before


@pytest.mark.parametrize(
    ("content", "content_type", "status", "field"),
    [
        (b'{"name": "\xff\xfe", "resource": "local-process"}', "application/json", 422, "body"),
        (b"name=hq&resource=local-process", "text/plain", 415, "content-type"),
        (b'"just a string"', "application/json", 422, "body"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_4xx(
    api: httpx.Client, content: bytes, content_type: str, status: int, field: str
) -> None:
    before = stored(api)
    response = api.post("/queues", content=content, headers={"content-type": content_type})
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert stored(api) == before


def test_a_20_mb_body_is_answered_413_without_being_read(base: str, api: httpx.Client) -> None:
    # GIVEN a client that announces 20 MB and sends only the first 64 KiB of it
    before = stored(api)
    url = urlsplit(base)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=5) as sock:
        head = (
            "POST /queues/default/runs HTTP/1.1\r\nHost: launchq\r\nContent-Type: application/json\r\n"
            f"Content-Length: {20 * 1024 * 1024}\r\n\r\n"
        )
        sock.sendall(head.encode() + b'{"env": {"A": "' + b"x" * 65536)
        # WHEN the server answers (it must not wait for the rest)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    # THEN it is a 413 naming the body, and the server is healthy
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert httpx.get(f"{base}/healthz", timeout=PROBE_TIMEOUT).status_code == 200
    assert stored(api) == before


def test_bodies_at_the_bounds_are_accepted(api: httpx.Client) -> None:
    # GIVEN a run close to every bound: a body just under 1 MiB, 256 variables, 1024 args
    env = {f"K{i}": "v" * 3000 for i in range(256)}
    body = {"entry_point": py("print('ok')"), "env": env, "args": ["a"] * 1024}
    assert MAX_BODY_BYTES * 0.7 < len(json.dumps(body)) < MAX_BODY_BYTES
    response = api.post("/queues/default/runs", json=body)
    assert response.status_code == 201, response.text
    api.post(f"/runs/{response.json()['id']}/stop")


def test_code_uploads_have_a_larger_bound_than_other_routes(api: httpx.Client) -> None:
    # GIVEN a 3 MiB source archive (incompressible, so the tarball stays that large)
    source = io.BytesIO()
    with tarfile.open(fileobj=source, mode="w:gz") as tar:
        blob = os.urandom(3 * 1024 * 1024)
        info = tarfile.TarInfo("weights.bin")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    body = {"data": base64.b64encode(source.getvalue()).decode()}
    assert MAX_BODY_BYTES < len(json.dumps(body)) < MAX_CODE_BODY_BYTES
    # WHEN it is uploaded, and the same number of bytes is sent to a route with the general bound
    uploaded = api.post("/code", json=body)
    before = stored(api)
    refused = api.post("/queues/default/runs", json={"entry_point": ["true"], "env": {"A": body["data"]}})
    # THEN the upload is stored, and the other body is a 413 that stored nothing
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["uri"].startswith("code://")
    assert_refused(refused, 413, "body", str(MAX_BODY_BYTES))
    assert stored(api) == before
    # AND past the upload bound even /code is refused
    too_big = api.post("/code", content=b'{"data": "' + b"A" * MAX_CODE_BODY_BYTES + b'"}')
    assert too_big.status_code == 413, too_big.text


def test_a_wandb_yaml_config_with_aliases_still_works(api: httpx.Client) -> None:
    # GIVEN a queue config in YAML that shares values through anchors, aliases and a merge key
    body = {
        "name": "aliased",
        "resource": "local-process",
        "config": (
            "env:\n"
            "  <<: &base {SHARED: shared, SIZE: '{{size}}'}\n"
            "  EXTRA: &one '1'\n"
            "  ALSO: *one\n"
            "grace_period_seconds: 2\n"
        ),
        "template_variables": {"size": {"type": "string", "enum": ["small", "large"], "default": "small"}},
    }
    created = api.post("/queues", json=body)
    assert created.status_code == 201, created.text

    # WHEN a run is enqueued, THEN the config resolves with the aliased values and the run finishes
    run = api.post(
        "/queues/aliased/runs", json={"entry_point": py("print(1)"), "template_variables": {"size": "large"}}
    )
    assert run.status_code == 201, run.text
    resolved = api.get(f"/runs/{run.json()['id']}").json()["resolved"]
    assert resolved["env"] == {"SHARED": "shared", "SIZE": "large", "EXTRA": "1", "ALSO": "1"}
    wait_state(api, run.json()["id"], {"finished"})
