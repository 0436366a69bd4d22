"""The CLI's two HTTP senders give the same answers and the same errors.

A plain ``http://`` API is spoken to with the standard library (``StdlibSender``), so that a
command starts without importing httpx; https, signing and injected transports stay on httpx
(``HttpxSender``). Each case here sends the same request through both, to a real HTTP server
on loopback, and compares what ``ApiClient`` made of it: the answer, the request the server
saw, or the one-line error.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from launchq.cli.client import ApiClient
from launchq.cli.errors import CliError
from launchq.cli.transport import HttpxSender, StdlibSender
from tests.loopback_http import LoopbackServer, QuietHandler
from tests.servers import free_port

HEALTH = (200, {"Content-Type": "application/json"}, b'{"status": "ok", "version": "0.1.0"}')
Canned = tuple[int, dict[str, str], bytes]


class Scripted(LoopbackServer):
    """Answers each path with a canned status, headers and body; records what it was sent."""

    # (its own status lines: see _serve)

    def __init__(self, routes: dict[str, Canned]) -> None:
        self.routes = {"/healthz": HEALTH, **routes}
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        server = self

        class Handler(QuietHandler):
            def _serve(self) -> None:
                body = self.read_body()
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.seen.append((self.command, self.path, headers, body))
                path = self.path.split("?")[0]
                status, reply_headers, payload = server.routes.get(path, (404, {}, b""))
                # a status line in the server's own words: each sender says the standard phrase
                self.send_response(status, "Words Of This Server")
                for name, value in {**reply_headers, "Content-Length": str(len(payload))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

        super().__init__(Handler)


def _client(kind: str, url: str, **options: Any) -> ApiClient:
    """An ApiClient whose sender is ``kind``: the standard library's, or httpx's (a transport
    handed in chooses httpx, as in the CLI's tests of signing)."""
    if kind == "httpx":
        return ApiClient(url, transport=httpx.HTTPTransport(), **options)
    return ApiClient(url, **options)


@pytest.fixture(params=["stdlib", "httpx"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_each_kind_of_client_gets_the_sender_it_names() -> None:
    assert isinstance(ApiClient("http://127.0.0.1:9")._wire, StdlibSender)
    assert isinstance(_client("httpx", "http://127.0.0.1:9")._wire, HttpxSender)
    assert isinstance(ApiClient("https://launchq.example")._wire, HttpxSender)


@pytest.mark.parametrize(
    ("url", "said"),
    [("http://127.0.0.1:http", "the port must be a number"), ("http://:8080", "names no host")],
)
def test_a_plain_http_url_that_cannot_be_used_is_a_url_mistake(url: str, said: str) -> None:
    with pytest.raises(CliError) as error:
        ApiClient(url)

    assert error.value.message.startswith(f"--url: {url!r}")
    assert said in error.value.message
    assert error.value.exit_code == 2


def _both(routes: dict[str, Canned], call: Callable[[ApiClient], Any]) -> list[tuple[Any, list[Any]]]:
    """``call`` through each sender against a fresh server: its result (or error) and what the
    server saw, with the headers each library sets on its own left out."""
    outcomes = []
    for kind in ("stdlib", "httpx"):
        with Scripted(routes) as server, _client(kind, server.url) as client:
            try:
                result: Any = call(client)
            except CliError as exc:
                result = (type(exc).__name__, exc.message.replace(server.url, "URL"), exc.exit_code)
            own = {"accept-encoding", "user-agent", "connection", "host", "accept"}
            seen = [(m, p, {k: v for k, v in h.items() if k not in own}, b) for m, p, h, b in server.seen]
            outcomes.append((result, seen))
    return outcomes


JSON = {"Content-Type": "application/json"}
RUNS = json.dumps({"runs": [{"id": "r1", "state": "queued"}, "not an object"]}).encode()
CASES: dict[str, tuple[dict[str, Canned], Callable[[ApiClient], Any]]] = {
    "a listing, with its query": (
        {"/runs": (200, JSON, RUNS)},
        lambda c: c.list_runs(queue="gpu", state="queued", limit=5),
    ),
    "a JSON body and an idempotency key": (
        {"/queues/g%20pu/runs": (201, JSON, b'{"id": "r1", "name": "caf\xc3\xa9"}')},
        lambda c: c.enqueue_run("g pu", {"uri": "é", "args": ["--lr", 0.5]}, idempotency_key="k-1"),
    ),
    "a 4xx with a field": (
        {"/queues": (422, JSON, b'{"error": "invalid", "detail": "must be positive", "field": "max_jobs"}')},
        lambda c: c.create_queue({"name": "q", "max_jobs": 0}),
    ),
    "a 5xx": (
        {"/queues/q": (503, JSON, b'{"error": "unavailable", "detail": "store down"}')},
        lambda c: c.get_queue("q"),
    ),
    "a 403 from a gateway": (
        {"/runs/r1": (403, JSON, b'{"message": "Missing Authentication Token"}')},
        lambda c: c.get_run("r1"),
    ),
    "an empty 204": ({"/schedules/nightly": (204, {}, b"")}, lambda c: c.delete_schedule("nightly")),
    "an HTML page where launchq should be": (
        {
            "/queues": (200, {"Content-Type": "text/html; charset=latin-1"}, b"<html>caf\xe9</html>"),
            "/healthz": (200, {"Content-Type": "text/html"}, b"<html>login</html>"),
        },
        lambda c: c.list_queues(),
    ),
    "a status without a standard phrase, in plain text": (
        {"/queues": (599, {"Content-Type": "text/plain"}, b"proxy gave up\nsecond line")},
        lambda c: c.list_queues(),
    ),
    "JSON that is not an object": ({"/runs/r2": (200, JSON, b"[1, 2]")}, lambda c: c.get_run("r2")),
    "a streamed upload": (
        {"/code": (201, JSON, b'{"uri": "code://abc"}')},
        lambda c: c.upload_code(b"\x00\x01" * 40_000),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_both_senders_make_the_same_of_an_exchange(case: str) -> None:
    routes, call = CASES[case]

    (stdlib, sent), (via_httpx, sent_via_httpx) = _both(routes, call)

    # THEN the result or error is the same, and so is what the server received
    assert stdlib == via_httpx
    assert sent == sent_via_httpx
    assert sent  # the request did reach the server


def test_headers_given_to_the_client_go_with_every_request(kind: str) -> None:
    with (
        Scripted({"/keys": (200, JSON, b'{"keys": []}')}) as server,
        _client(kind, server.url, headers={"Authorization": "Bearer lq_test"}) as client,
    ):
        client._list(client._request("GET", "/keys"), "keys")

    ((_, _, headers, _),) = server.seen
    assert headers["authorization"] == "Bearer lq_test"


def test_a_refused_connection_says_where_and_what_to_run(kind: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with _client(kind, url) as client, pytest.raises(CliError) as error:
        client.list_runs()

    assert error.value.message == f"cannot reach launchq at {url} — is `launchq serve` running?"
    assert error.value.exit_code == 1


@pytest.fixture
def silent() -> Iterator[str]:
    """A listener that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            listener.settimeout(0.05)
            while not stop.is_set():
                try:
                    accepted.append(listener.accept()[0])
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()


def test_an_api_that_never_answers_is_said_to_be_too_slow(kind: str, silent: str) -> None:
    with _client(kind, silent, timeout=0.3) as client, pytest.raises(CliError) as error:
        client.list_runs()

    assert error.value.message == f"launchq at {silent} did not answer in time"
    assert error.value.exit_code == 1


def test_a_connection_cut_before_the_answer_is_a_failed_exchange(kind: str) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"

        def hang_up() -> None:
            conn, _ = listener.accept()
            conn.recv(65536)
            time.sleep(0.05)
            conn.close()

        threading.Thread(target=hang_up, daemon=True).start()
        with _client(kind, url) as client, pytest.raises(CliError) as error:
            client.list_runs()

    assert error.value.message.startswith(f"talking to launchq at {url} failed: ")
    assert error.value.exit_code == 1
