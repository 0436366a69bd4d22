"""Launch jobs' own rules (``launchq.domain.jobs``): references, sources, schemas, inputs."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from launchq.domain.jobs import JobSpec, check_run_config, parse_job_ref
from launchq.errors import InvalidInput
from launchq.validation import invalid_input

CODE = "code://" + "0f" * 32
SCHEMA = {"type": "object", "properties": {"lr": {"type": "number"}, "layers": {"type": "array"}}}


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("train", ("train", None)),
        ("train:latest", ("train", None)),
        ("train:v3", ("train", 3)),
        ("train:12", ("train", 12)),
        ("my-job.v2_x:v1", ("my-job.v2_x", 1)),
    ],
)
def test_references_name_a_job_and_maybe_a_version(ref: str, parsed: tuple[str, int | None]) -> None:
    assert parse_job_ref(ref) == parsed


@pytest.mark.parametrize("ref", ["", ":v1", "tr ain", "-train", "train:x", "train:v", "train:vv1", "a:b:c"])
def test_a_malformed_reference_says_which_shapes_are_allowed(ref: str) -> None:
    with pytest.raises(InvalidInput, match=r"NAME, NAME:latest, NAME:vN or NAME:N") as raised:
        parse_job_ref(ref)
    assert raised.value.field == "job"
    assert "[A-Za-z" not in str(raised.value)  # words, not the regex


def test_version_zero_is_refused_saying_launchq_counts_from_one() -> None:
    with pytest.raises(InvalidInput, match="from v1") as raised:
        parse_job_ref("train:v0")
    assert raised.value.field == "job"


def problem(body: dict[str, Any]) -> str:
    """The one-line InvalidInput a create would answer for ``body``."""
    with pytest.raises(ValidationError) as raised:
        JobSpec.model_validate({"name": "train", **body})
    return str(invalid_input(raised.value))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({}, "source: give exactly one of uri (+ git_version), docker_image or code; got none"),
        ({"uri": "examples", "docker_image": "python:3.11"}, "got uri and docker_image"),
        ({"docker_image": "python:3.11", "git_version": "main"}, "source: git_version goes with a git uri"),
        ({"code": "code://abc"}, "source.code: 'code://abc' is not a code reference"),
        ({"uri": "examples", "branch": "main"}, "source.branch: Extra inputs are not permitted"),
    ],
)
def test_a_source_is_exactly_one_of_uri_image_or_code(source: dict[str, str], message: str) -> None:
    assert message in problem({"source": source})


def test_uploaded_code_given_as_a_uri_is_taken_as_code_and_runs_as_a_uri() -> None:
    job = JobSpec.model_validate({"name": "train", "source": {"uri": CODE}})
    assert (job.source.code, job.source.uri) == (CODE, None)
    assert job.source.run_fields() == {"uri": CODE}
    git = JobSpec.model_validate({"name": "t", "source": {"uri": "https://x/r.git", "git_version": "v1"}})
    assert git.source.run_fields() == {"uri": "https://x/r.git", "git_version": "v1"}


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            {"properties": {"lr": {"type": "nubmer"}}},
            "input_schema: not a valid JSON Schema at properties.lr.type:",
        ),
        ({"$schema": "https://example.com/my-dialect"}, "input_schema: unknown $schema"),
        ({"$schema": 7}, "input_schema: $schema must be a string"),
    ],
)
def test_an_input_schema_that_is_not_a_json_schema_is_refused(schema: dict[str, Any], message: str) -> None:
    assert problem({"source": {"uri": "x"}, "input_schema": schema}).startswith(message)


def test_a_job_too_large_for_one_record_is_refused() -> None:
    assert "a job is at most 262144 bytes as JSON" in problem(
        {"source": {"uri": "x"}, "args": ["a" * 30_000] * 10}
    )


def test_a_bad_env_name_is_refused_as_in_a_run() -> None:
    assert problem({"source": {"uri": "x"}, "env": {"A=B": "1"}}).startswith("env: 'A=B' is not a valid")


def test_run_config_is_checked_against_the_schema_naming_the_path() -> None:
    check_run_config(SCHEMA, {"lr": 0.1, "layers": [1, 2]})
    check_run_config(None, {"anything": "goes"})
    with pytest.raises(InvalidInput) as raised:
        check_run_config(SCHEMA, {"lr": "x"})
    assert str(raised.value) == "run_config.lr: 'x' is not of type 'number'"
    nested = {"type": "object", "properties": {"layers": {"type": "array", "items": {"type": "integer"}}}}
    with pytest.raises(InvalidInput) as deeper:
        check_run_config(nested, {"layers": [1, "two"]})
    assert deeper.value.field == "run_config.layers.1"


def test_a_schema_pointing_outside_itself_is_never_fetched() -> None:
    with pytest.raises(InvalidInput) as raised:
        check_run_config({"$ref": "https://example.com/schema.json"}, {"lr": 1})
    assert raised.value.field == "input_schema"
