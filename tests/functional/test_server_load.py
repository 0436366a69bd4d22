"""A real ``launchq serve`` under many clients at once, slow and oversized requests, and shutdown.

Figures (wall time, status counts) are printed for the record (``pytest -s``); the
assertions are about behaviour: every client answered, no 5xx, one run per idempotency
key, nobody's answer mixed up with another's, fast clients served while slow ones dribble.
"""

from __future__ import annotations

import asyncio
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from launchq.api.limits import MAX_BODY_BYTES
from launchq.local.server import server_config
from launchq.local.settings import LocalSettings
from launchq.local.wiring import build_local
from tests.functional.helpers import create_queue, enqueue, py, wait_state
from tests.functional.raw_http import connect, read_answer, send_head
from tests.servers import free_port, launchq_serve, launchq_serve_process

TRUE = ["true"]  # the cheapest entry point: runs the dispatcher launches cost the box nothing


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One server for the module's load tests (each test uses its own queues), and the file
    that releases the jobs holding its queues' slots: touched once the server has stopped, so
    the runs queued behind them are never launched and cost the box nothing."""
    workdir = tmp_path_factory.mktemp("load")
    release = workdir / "release"
    try:
        with launchq_serve(workdir / "data") as url:
            yield url, release
    finally:
        release.touch()


@pytest.fixture
def base(served: tuple[str, Path]) -> str:
    return served[0]


@pytest.fixture
def api(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=30) as client:
        yield client


def _holder(release: Path) -> list[str]:
    """A job that runs until ``release`` exists (two minutes at most)."""
    return py(
        f"import os,time\nt=time.time()\n"
        f"while not os.path.exists({str(release)!r}) and time.time()-t<120: time.sleep(0.05)"
    )


@dataclass
class Call:
    kind: str
    method: str
    path: str
    expect: set[int]
    json: Any = None
    content: bytes | None = None
    key: str | None = None
    """An Idempotency-Key header."""


def _held_queue(api: httpx.Client, name: str, release: Path, waiting: int = 0) -> list[str]:
    """A one-slot queue whose slot is held until ``release`` exists; ``waiting`` runs stay queued."""
    create_queue(api, name, max_jobs=1)
    blocker = enqueue(api, name, entry_point=_holder(release))
    wait_state(api, blocker["id"], {"running"})
    return [enqueue(api, name, entry_point=TRUE)["id"] for _ in range(waiting)]


def _mixed_calls(waiting: list[str]) -> list[Call]:
    """500 calls on queue "load": enqueues with and without Idempotency-Key (two requests per
    key), reads, stops of the ``waiting`` runs, and invalid requests."""
    run = {"entry_point": TRUE}
    calls = [
        Call("enqueue", "POST", "/queues/load/runs", {201}, {**run, "name": f"p{i}"}) for i in range(150)
    ]
    calls += [
        Call(
            "keyed",
            "POST",
            "/queues/load/runs",
            {200, 201},
            {**run, "name": f"k{i // 2}"},
            None,
            f"key-{i // 2}",
        )
        for i in range(100)
    ]
    reads = ["/healthz", "/queues/load", f"/runs/{waiting[0]}", "/runs?queue=load&state=running", "/queues"]
    calls += [Call("read", "GET", reads[i % len(reads)], {200}) for i in range(100)]
    calls += [Call("stop", "POST", f"/runs/{run_id}/stop", {202}) for run_id in waiting]
    invalid = [
        Call("invalid", "POST", "/queues/load/runs", {422}, content=b'{"entry_point": ['),
        Call("invalid", "POST", "/queues/load/runs", {422}, {**run, "nope": 1}),
        Call("invalid", "POST", "/queues/load/runs", {422}, {**run, "priority": "urgent"}),
        Call("invalid", "POST", "/queues/absent/runs", {404}, run),
        Call("invalid", "GET", "/runs/0000000000000000", {404}),
    ]
    calls += [invalid[i % len(invalid)] for i in range(100)]
    random.Random(7).shuffle(calls)
    return calls


async def _fire(base: str, calls: list[Call]) -> list[httpx.Response | BaseException]:
    """Every call at once, each on its own connection."""
    limits = httpx.Limits(max_connections=len(calls), max_keepalive_connections=len(calls))
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        requests = [
            client.request(
                c.method,
                c.path,
                json=c.json,
                content=c.content,
                headers={"Idempotency-Key": c.key} if c.key else None,
            )
            for c in calls
        ]
        return await asyncio.gather(*requests, return_exceptions=True)


def test_500_concurrent_clients_are_all_answered_with_no_5xx(
    api: httpx.Client, served: tuple[str, Path]
) -> None:
    # GIVEN a queue whose one slot is held, with 50 runs waiting behind it (to read and stop)
    base, release = served
    waiting = _held_queue(api, "load", release, waiting=50)
    calls = _mixed_calls(waiting)

    # WHEN 500 clients call at once
    started = time.monotonic()
    answers = asyncio.run(_fire(base, calls))
    elapsed = time.monotonic() - started

    # THEN every one got the answer its request deserves, and nothing answered 5xx
    failures = [
        (c.kind, c.path, a) for c, a in zip(calls, answers, strict=True) if isinstance(a, BaseException)
    ]
    assert not failures, failures[:5]
    responses = [a for a in answers if isinstance(a, httpx.Response)]
    statuses = Counter(r.status_code for r in responses)
    print(f"\n500 concurrent clients answered in {elapsed:.1f} s: {dict(sorted(statuses.items()))}")
    assert not [s for s in statuses if s >= 500]
    wrong = [
        (c.kind, c.path, r.status_code, r.text[:200])
        for c, r in zip(calls, responses, strict=True)
        if r.status_code not in c.expect
    ]
    assert not wrong, wrong[:5]

    # AND each idempotency key made exactly one run, both of its requests naming it
    ids_by_key: dict[str | None, set[str]] = {}
    for call, response in zip(calls, responses, strict=True):
        if call.kind == "keyed":
            ids_by_key.setdefault(call.key, set()).add(response.json()["id"])
    assert len(ids_by_key) == 50
    assert all(len(ids) == 1 for ids in ids_by_key.values())
    listed = api.get("/runs", params={"queue": "load", "limit": 10_000}).json()["runs"]
    names = Counter(run["name"] for run in listed)
    expected: dict[str | None, int] = {None: 51}  # the holder and the 50 stopped runs have no name
    expected.update((f"p{i}", 1) for i in range(150))
    expected.update((f"k{i}", 1) for i in range(50))
    assert names == expected
    assert {run["state"] for run in listed if run["id"] in waiting} == {"cancelled"}

    # AND the server is healthy after
    assert api.get("/healthz", timeout=5).json()["status"] == "ok"


def test_100_concurrent_retries_of_one_key_make_exactly_one_run(api: httpx.Client, base: str) -> None:
    # GIVEN a queue
    create_queue(api, "retried", max_jobs=1)
    body = {"entry_point": TRUE, "name": "once"}
    call = Call("keyed", "POST", "/queues/retried/runs", {200, 201}, body, key="one-key")

    # WHEN the same keyed request is sent 100 times at once
    answers = asyncio.run(_fire(base, [call] * 100))

    # THEN one of them created the run, the 99 others were told about that same run
    responses = [a for a in answers if isinstance(a, httpx.Response)]
    assert len(responses) == 100, [a for a in answers if isinstance(a, BaseException)][:3]
    assert Counter(r.status_code for r in responses) == {201: 1, 200: 99}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(api.get("/runs", params={"queue": "retried"}).json()["runs"]) == 1


def test_concurrent_requests_never_get_each_others_answers(
    api: httpx.Client, served: tuple[str, Path]
) -> None:
    # GIVEN 20 queues created at once, each with its own max_jobs, and a queue whose slot is held
    base, release = served
    names = [f"mine-{i}" for i in range(20)]
    creates = [
        Call("create", "POST", "/queues", {201}, {"name": n, "resource": "local-process", "max_jobs": i + 1})
        for i, n in enumerate(names)
    ]
    created = asyncio.run(_fire(base, creates))
    assert [a.json()["name"] for a in created if isinstance(a, httpx.Response)] == names
    _held_queue(api, "crosstalk", release)

    # WHEN 100 reads of different queues and 100 enqueues of differently named runs run at once
    calls = [Call("read", "GET", f"/queues/{names[i % 20]}", {200}) for i in range(100)]
    calls += [
        Call("enqueue", "POST", "/queues/crosstalk/runs", {201}, {"entry_point": TRUE, "name": f"r{i}"})
        for i in range(100)
    ]
    random.Random(3).shuffle(calls)
    answers = asyncio.run(_fire(base, calls))

    # THEN each answer is about the queue or the run its own request named
    run_names = {}
    for call, answer in zip(calls, answers, strict=True):
        assert isinstance(answer, httpx.Response), answer
        assert answer.status_code in call.expect, answer.text
        if call.kind == "read":
            queue = call.path.removeprefix("/queues/")
            assert (answer.json()["name"], answer.json()["max_jobs"]) == (queue, names.index(queue) + 1)
        else:
            run_names[answer.json()["id"]] = call.json["name"]
    listed = api.get("/runs", params={"queue": "crosstalk", "state": "queued"}).json()["runs"]
    assert {run["id"]: run["name"] for run in listed} == run_names


def test_a_body_over_the_limit_is_413_without_reading_it_and_nothing_is_stored(
    api: httpx.Client, base: str
) -> None:
    # WHEN a client announces a 20 MB body and sends only its start
    prefix = b'{"name": "huge", "resource": "local-process", "config": {"x": "'
    with connect(base) as sock:
        send_head(
            sock,
            "POST",
            "/queues",
            {"Content-Type": "application/json", "Content-Length": str(20 * 1024 * 1024)},
        )
        sock.sendall(prefix)
        declared = read_answer(sock)

    # AND another streams a chunked body past the limit, never saying how long it is
    with connect(base) as sock:
        send_head(
            sock, "POST", "/queues", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        )
        chunk = b"a" * (64 * 1024)
        sent = 0
        for piece in [prefix, *[chunk] * (MAX_BODY_BYTES // len(chunk) + 1)]:
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
        streamed = read_answer(sock)

    # THEN both are refused with 413 naming the body, the connection is closed, nothing is stored
    for answer in (declared, streamed):
        assert answer.status == 413
        assert answer.json()["error"] == "payload_too_large"
        assert answer.json()["field"] == "body"
        assert str(MAX_BODY_BYTES) in answer.json()["detail"]
        assert answer.headers["connection"] == "close"
    assert sent > MAX_BODY_BYTES
    assert api.get("/queues/huge").status_code == 404
    assert api.get("/healthz").status_code == 200


def _dribble(base: str, name: str, stall: threading.Event, answers: dict[str, int]) -> None:
    """POST a queue one byte at a time; after half the body, wait for ``stall`` to clear.

    The answer's status lands in ``answers`` (-1 when the server closed the connection)."""
    body = f'{{"name": "{name}", "resource": "local-process", "max_jobs": 3}}'.encode()
    try:
        with connect(base, timeout=60) as sock:
            send_head(
                sock,
                "POST",
                "/queues",
                {"Content-Type": "application/json", "Content-Length": str(len(body))},
            )
            for i, byte in enumerate(body):
                if i == len(body) // 2:
                    stall.wait(60)
                sock.sendall(bytes([byte]))
                time.sleep(0.01)
            answers[name] = read_answer(sock).status
    except OSError:
        answers[name] = -1


def test_slow_clients_do_not_hold_up_the_others(api: httpx.Client, base: str) -> None:
    # GIVEN more clients than the server has worker threads, each stalled half-way through its body
    stall = threading.Event()
    slow_answers: dict[str, int] = {}
    slow = [
        threading.Thread(target=_dribble, args=(base, f"slow-{i}", stall, slow_answers)) for i in range(20)
    ]
    for thread in slow:
        thread.start()
    try:
        # WHEN other clients call meanwhile
        fast = [Call("read", "GET", "/healthz", {200}) for _ in range(20)]
        fast += [
            Call("create", "POST", "/queues", {201}, {"name": f"fast-{i}", "resource": "local-process"})
            for i in range(20)
        ]
        started = time.monotonic()
        answers = asyncio.run(_fire(base, fast))
        print(f"\n40 calls beside 20 stalled clients answered in {time.monotonic() - started:.2f} s")

        # THEN they are all answered while the slow ones are still stuck in their bodies
        assert [a.status_code for a in answers if isinstance(a, httpx.Response)] == [200] * 20 + [201] * 20
        assert not slow_answers
        assert all(t.is_alive() for t in slow)
    finally:
        stall.set()
        for thread in slow:
            thread.join(60)

    # AND the slow ones, once their bodies arrive, are served too
    assert slow_answers == {f"slow-{i}": 201 for i in range(20)}
    assert api.get("/queues/slow-7").json()["max_jobs"] == 3


@pytest.fixture
def in_process(tmp_path: Path) -> Iterator[str]:
    """The server's own uvicorn config, served from a thread, with a 0.5 s body timeout."""
    services = build_local(LocalSettings(data_dir=tmp_path / "data"))
    server = uvicorn.Server(server_config(services, "127.0.0.1", free_port(), body_timeout=0.5))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(15)


def test_a_body_that_never_arrives_is_answered_408(in_process: str) -> None:
    # WHEN a client sends half a body and then nothing
    with connect(in_process) as sock:
        send_head(sock, "POST", "/queues", {"Content-Type": "application/json", "Content-Length": "100"})
        sock.sendall(b'{"name": "never"')
        answer = read_answer(sock)

    # THEN it gets 408 naming the body once the body timeout passes; nothing is stored
    assert answer.status == 408
    assert answer.json()["error"] == "request_timeout"
    assert answer.json()["field"] == "body"
    assert httpx.get(f"{in_process}/queues/never").status_code == 404


def test_docs_and_openapi_are_served(api: httpx.Client) -> None:
    schema = api.get("/openapi.json")
    assert schema.status_code == 200
    assert "/queues/{name}/runs" in schema.json()["paths"]
    docs = api.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_sigterm_stops_the_server_with_requests_in_flight_and_running_jobs_survive(tmp_path: Path) -> None:
    data = tmp_path / "data"
    release = tmp_path / "release"
    with launchq_serve_process(data) as (url, proc):
        api = httpx.Client(base_url=url, timeout=30)
        # GIVEN a running job, 10 clients stalled mid-body and a burst of enqueues in flight
        create_queue(api, "survivor", max_jobs=1)
        job = enqueue(api, "survivor", entry_point=_holder(release))
        wait_state(api, job["id"], {"running"})
        stall = threading.Event()
        stalled = [
            threading.Thread(target=_dribble, args=(url, f"s{i}", stall, {}), daemon=True) for i in range(6)
        ]
        burst = [
            Call("enqueue", "POST", "/queues/survivor/runs", {201}, {"entry_point": TRUE}) for _ in range(20)
        ]
        burst_thread = threading.Thread(target=lambda: asyncio.run(_fire(url, burst)), daemon=True)
        for thread in [*stalled, burst_thread]:
            thread.start()
        time.sleep(0.3)

        # WHEN the server gets SIGTERM
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        took = time.monotonic() - started
        print(f"\nSIGTERM with requests in flight: exited {code} in {took:.2f} s")
        stall.set()

    # THEN it exited cleanly within a few seconds, cancelled requests answered, not traced back
    assert code == 0
    assert took < 15
    assert not [log for log in tmp_path.glob("serve-*.log") if "Traceback" in log.read_text()]

    # AND the job it left running is picked up by the next server and finishes
    with launchq_serve(data) as url:
        api = httpx.Client(base_url=url, timeout=30)
        assert api.get(f"/runs/{job['id']}").json()["state"] == "running"
        release.touch()
        assert wait_state(api, job["id"], {"finished", "failed"})["state"] == "finished"
