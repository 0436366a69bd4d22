"""Every user mistake is a clear 4xx naming the field, and nothing is stored half-way."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.functional.helpers import create_queue, py

TEMPLATED = {
    "config": {"env": {"LR": "{{lr}}", "SIZE": "{{size}}"}},
    "template_variables": {
        "lr": {"type": "float", "min": 0.0001, "max": 1.0, "default": 0.01},
        "size": {"type": "string", "enum": ["small", "large"], "default": "small"},
    },
}


def _runs(api: httpx.Client) -> list[Any]:
    return list(api.get("/runs").json()["runs"])


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"name": "q1", "resource": "local-process", "config": "a: [1, 2\nb: c"}, "config", "line"),
        ({"name": "q1", "resource": "local-process", "config": "{not json"}, "config", ""),
        ({"name": "q1", "resource": "warp-drive"}, "resource", "unknown resource"),
        ({"name": "q1", "resource": "sagemaker"}, "resource", "not available"),
        (
            {"name": "q1", "resource": "local-process", "config": {"env": {"A": "${HOME}"}}},
            "config",
            "${HOME}",
        ),
        ({"name": "q1", "resource": "local-process", "config": {"env": {"A": "{{nope}}"}}}, "config", "nope"),
        ({"name": "q1", "resource": "local-process", "max_jobs": 0}, "max_jobs", ""),
        ({"name": "q1", "resource": "local-process", "max_jobs": True}, "max_jobs", "integer"),
        ({"name": "bad name!", "resource": "local-process"}, "name", ""),
        ({"name": "q1", "resource": "local-process", "colour": "red"}, "colour", "unknown field"),
        (
            {
                "name": "q1",
                "resource": "local-process",
                "config": {"x": "{{size}}"},
                "template_variables": {"size": {"type": "string", "enum": ["small"]}},
            },
            "config.x",
            "unknown key",
        ),
        ({"name": "q1", "resource": "local-process", "config": "env: {}\nenv: {}\n"}, "config", "duplicate"),
    ],
)
def test_bad_queue_is_refused_and_not_created(
    api: httpx.Client, body: dict[str, Any], field: str, words: str
) -> None:
    response = api.post("/queues", json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"] == "invalid_input"
    assert error["field"] == field
    assert field in error["detail"]
    assert words in error["detail"]
    assert "Traceback" not in response.text
    assert [q["name"] for q in api.get("/queues").json()["queues"]] == ["default"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"priority": "urgent"}, "priority", "urgent"),
        ({"priority": 7}, "priority", "0..3"),
        ({"template_variables": {"lr": 5}}, "template_variables.lr", "maximum"),
        ({"template_variables": {"size": "huge"}}, "template_variables.size", "huge"),
        ({"template_variables": {"depth": 3}}, "template_variables.depth", "unknown template variable"),
        (
            {"resource_args": {"local-process": {"env": {"X": "${AWS_SECRET_ACCESS_KEY}"}}}},
            "resource_args",
            "${AWS",
        ),
        ({"resource_args": {"sagemaker": {"InstanceType": "ml.p3"}}}, "resource_args.sagemaker", "targets"),
        ({"resource_args": {"local-process": {"colour": "red"}}}, "resource_args.local-process.colour", ""),
        ({"entry_point": []}, "entry_point", ""),
        ({"entry_point": "python 'unclosed"}, "entry_point", "unclosed"),
        ({"env": {"A=B": "x"}}, "env", ""),
        ({"uri": "ext::sh -c touch% /tmp/pwned"}, "uri", ""),
        ({"tags": ["x"]}, "tags", "unknown field"),
    ],
)
def test_bad_run_is_refused_and_not_stored(
    api: httpx.Client, body: dict[str, Any], field: str, words: str
) -> None:
    create_queue(api, "tq", **TEMPLATED)
    run = {"entry_point": py("print(1)"), **body}
    response = api.post("/queues/tq/runs", json=run)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["field"] == field, error
    assert words in error["detail"]
    assert _runs(api) == []


@pytest.mark.parametrize("content", [b"{oops", b'{"name": "q1",', b"[1, 2]"])
def test_malformed_json_body_is_a_422_naming_the_body(api: httpx.Client, content: bytes) -> None:
    response = api.post("/queues", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "body"
    assert response.json()["detail"].startswith("body: ")
    assert [q["name"] for q in api.get("/queues").json()["queues"]] == ["default"]


def test_a_patch_its_target_cannot_take_is_refused_and_the_queue_unchanged(api: httpx.Client) -> None:
    create_queue(api, "pq", config={"env": {"A": "1"}})
    response = api.patch("/queues/pq", json={"config": {"env": {"A": "2"}, "x": 1}})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "config.x"
    assert api.get("/queues/pq").json()["config"] == {"env": {"A": "1"}}


def test_unknown_queue_and_run_are_404_and_duplicates_409(api: httpx.Client) -> None:
    assert api.post("/queues/ghost/runs", json={"entry_point": ["true"]}).status_code == 404
    assert api.get("/runs/nope").status_code == 404
    assert api.get("/nowhere").status_code == 404
    assert api.post("/queues", json={"name": "default", "resource": "local-process"}).status_code == 409


def test_template_variables_resolve_into_the_run(api: httpx.Client) -> None:
    create_queue(api, "tq", **TEMPLATED)
    created = api.post(
        "/queues/tq/runs",
        json={"entry_point": py("print(1)"), "template_variables": {"lr": 0.5}, "name": "r1"},
    ).json()
    run = api.get(f"/runs/{created['id']}").json()
    assert run["resolved"]["env"] == {"LR": 0.5, "SIZE": "small"}


def test_idempotency_key_returns_the_same_run(api: httpx.Client) -> None:
    create_queue(api, "idem", max_jobs=1)
    body = {"entry_point": py("print(1)")}
    first = api.post("/queues/idem/runs", json=body, headers={"Idempotency-Key": "k-1"})
    again = api.post("/queues/idem/runs", json=body, headers={"Idempotency-Key": "k-1"})
    other = api.post("/queues/idem/runs", json={"entry_point": ["true"]}, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 409
    assert other.json()["field"] == "Idempotency-Key"
    assert len(_runs(api)) == 1
