"""Fuzzing the HTTP API of a running ``launchq serve`` with schemathesis, from its ``/openapi.json``.

Why: hand-written tests try the inputs their authors thought of; these generate thousands
(valid and invalid bodies, parameters, headers) for every operation the document declares, and
follow its links (create a queue, then read, patch, enqueue into and delete it; enqueue a
run, then read, stop and replay it). Every response must be a non-5xx, carry a documented
status code and content type, and match the schema declared for that status: a user
mistake is a 4xx naming the field, never a 500, and clients generated from the document
can trust it.

The server is a real process on a temporary data directory, started with ``--no-dispatch``
so that no fuzzed run is launched (a generated ``uri`` or entry point would otherwise run
on this machine); the API, its validation and the store are all exercised.

Reproducible: hypothesis derandomised (examples derived from each test, the same on every
run and machine). Sizes: ``LAUNCHQ_FUZZ_EXAMPLES`` (examples per operation and phase, default
35) and ``LAUNCHQ_FUZZ_SCENARIOS`` (stateful scenarios, default 30); a bigger run is e.g.
``LAUNCHQ_FUZZ_EXAMPLES=600 LAUNCHQ_FUZZ_SCENARIOS=400 pytest tests/functional/test_fuzz_api.py``.
The figures (requests sent, by status class) are written at the end of the module.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.servers import launchq_serve

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = int(os.environ.get("LAUNCHQ_FUZZ_EXAMPLES", "35"))
SCENARIOS = int(os.environ.get("LAUNCHQ_FUZZ_SCENARIOS", "30"))
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    print_blob=True,
)

SENT: Counter[str] = Counter()
"""Requests sent by this module, by status class (``2xx``, ``4xx``, ``5xx``) and ``total``."""


LONG_POLL_CAP = 0.05
"""``POST /agents/wait`` may hold a request for up to a minute: generated waits are capped, so
the run's time goes to requests rather than to sleeping."""


def _send(case: Case, **kwargs: Any) -> Response:
    """Send ``case`` (long polls capped) and count the answer by status class."""
    body = case.body
    if case.operation.path == "/agents/wait" and isinstance(body, dict):
        wait = body.get("wait_seconds")
        if isinstance(wait, int | float) and not isinstance(wait, bool):
            body["wait_seconds"] = min(wait, LONG_POLL_CAP)
    response = case.call(timeout=30, **kwargs)
    SENT["total"] += 1
    SENT[f"{response.status_code // 100}xx"] += 1
    return response


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[str]:
    """One server for the module (the fuzz runs build on each other's data, as clients would)."""
    with launchq_serve(tmp_path_factory.mktemp("fuzz") / "data", "--no-dispatch") as base:
        yield base
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        figures = ", ".join(f"{key} {SENT[key]}" for key in sorted(SENT))
        reporter.write_line(f"\nschemathesis: requests fuzzed against launchq serve: {figures}")


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_server: str) -> Any:
    return schemathesis.openapi.from_url(f"{fuzz_server}/openapi.json")


def _operations(fuzz_schema: Any, mode: GenerationMode) -> list[Any]:
    """Every operation; for negative data, those with a body or a query to break (a free-form
    path string cannot be made invalid: hypothesis would search in vain, then give up)."""
    found = [result.ok() for result in fuzz_schema.get_all_operations()]
    if mode.is_positive:
        return found
    return [op for op in found if op.definition.raw.get("requestBody") or _non_path_parameters(op)]


def _non_path_parameters(operation: Any) -> list[dict[str, Any]]:
    return [p for p in operation.definition.raw.get("parameters", []) if p.get("in") != "path"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_documented(fuzz_schema: Any, mode: GenerationMode) -> None:
    """GIVEN requests generated for every operation, fitting its schema (positive) or breaking
    it (negative) WHEN sent THEN each answer is as documented (never a 5xx).

    (A loop of ``@given`` per operation, not ``@schema.parametrize()``: schemathesis' lazy
    fixture schema sets ``node._nodeid``, which pytest 9 no longer has.)
    """
    operations = _operations(fuzz_schema, mode)
    assert len(operations) >= (25 if mode.is_positive else 15), [op.label for op in operations]
    for operation in operations:
        before = SENT["total"]

        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        @SETTINGS
        def answers_as_documented(case: Case) -> None:
            response = _send(case)
            case.validate_response(response, checks=CHECKS)

        answers_as_documented()
        assert SENT["total"] > before, f"no request was generated for {operation.label}"


def test_document_links_the_resources_it_creates(fuzz_schema: Any) -> None:
    """The links schemathesis follows below are in the document, pointing at real operations."""
    paths = fuzz_schema.raw_schema["paths"]
    queue_links = paths["/queues"]["post"]["responses"]["201"]["links"]
    run_links = paths["/queues/{name}/runs"]["post"]["responses"]["201"]["links"]
    assert queue_links["GetQueue"]["operationRef"] == "#/paths/~1queues~1{name}/get"
    assert run_links["GetRun"]["parameters"] == {"run_id": "$response.body#/id"}
    for links in (queue_links, run_links):
        for found in links.values():
            path, method = found["operationRef"].removeprefix("#/paths/").rsplit("/", 1)
            assert method in paths[path.replace("~1", "/").replace("~0", "~")]


def test_stateful_sequences_answer_as_documented(fuzz_schema: Any) -> None:
    """GIVEN the document's links WHEN schemathesis chains calls along them (a queue created,
    then used; a run enqueued, then read, stopped, replayed) THEN every answer is as documented."""

    class Machine(fuzz_schema.as_state_machine()):  # type: ignore[misc]
        def call(self, case: Case, **kwargs: Any) -> Response:
            return _send(case, **kwargs)

        def validate_response(self, response: Response, case: Case, *args: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    before = SENT["total"]
    Machine.run(
        settings=hypothesis.settings(SETTINGS, max_examples=SCENARIOS, stateful_step_count=8),
    )
    assert SENT["total"] - before >= SCENARIOS, "the state machine sent fewer requests than scenarios"
