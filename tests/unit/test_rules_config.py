"""Queue config text, templates, macros and overrides: the exact refusals users see.

A refusal is the whole user interface of a bad config: it must name the field the API or
CLI reports and the place in the document, so the messages are pinned word for word.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from launchq.api.limits import MAX_DOCUMENT_BYTES
from launchq.config.macros import MACROS, MacroValues, check_macros, project_name, substitute_macros
from launchq.config.resolve import check_queue_settings, resolve_resource_args
from launchq.config.templates import deep_merge, iter_strings, parse_config_text, render
from launchq.domain.models import Queue, QueueSettings, RunSpec
from launchq.errors import InvalidInput

ALLOWED = "${image_uri}, ${run_id}, ${run_name}, ${project_name}, ${entity_name}, ${queue_name}, ${author}"
JSON_HINT = "(text starting with '{' or '[' is read as JSON)"


def refusal(call: Any, *args: Any, **kwargs: Any) -> tuple[str | None, str]:
    """The (field, detail) of the InvalidInput that ``call(*args, **kwargs)`` raises."""
    with pytest.raises(InvalidInput) as caught:
        call(*args, **kwargs)
    return caught.value.field, caught.value.detail


# -- config text ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("a: !!binary aGVsbG8=", "value at a is a bytes; quote it"),
        ("a: !!set {x, y}", "value at a is a set; quote it"),
        ("a: !!timestamp 2024-01-01", "value at a is a date; quote it"),
        ("a:\n  b: !!timestamp 2024-01-01T10:00:00Z", "value at a.b is a datetime; quote it"),
        ("a: [1, {b: [x, !!binary aGVsbG8=]}]", "value at a[1].b[1] is a bytes; quote it"),
    ],
)
def test_yaml_tags_json_cannot_hold_are_refused_naming_where(text: str, detail: str) -> None:
    assert refusal(parse_config_text, text, field="queue.config") == ("queue.config", detail)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("yes: 1", "key True is not a string; quote it (YAML reads yes/no/on/off as booleans)"),
        (
            "a:\n  b:\n    on: 1",
            "key True at a.b is not a string; quote it (YAML reads yes/no/on/off as booleans)",
        ),
        ("a: [{1: x}]", "key 1 at a[0] is not a string; quote it (YAML reads yes/no/on/off as booleans)"),
    ],
)
def test_keys_that_are_not_strings_are_refused_naming_where(text: str, detail: str) -> None:
    assert refusal(parse_config_text, text, field="resource_args") == ("resource_args", detail)


def test_json_text_is_recognised_after_leading_whitespace() -> None:
    # YAML would read the broken JSON as {"a": null}; it must be refused as JSON instead
    assert refusal(parse_config_text, '  \n {"a": }') == (
        "config",
        f"malformed JSON at line 2, column 8: Expecting value {JSON_HINT}",
    )


def test_text_opening_a_list_is_read_as_json() -> None:
    assert refusal(parse_config_text, "[1,]") == (
        "config",
        f"malformed JSON at line 1, column 4: Expecting value {JSON_HINT}",
    )


def test_a_file_says_which_syntax_it_is() -> None:
    # a .json file holding YAML is refused; a .yaml file holding JSON-looking text is YAML
    assert refusal(parse_config_text, "a: 1", syntax="json") == (
        "config",
        f"malformed JSON at line 1, column 1: Expecting value {JSON_HINT}",
    )
    assert parse_config_text('{"a": }', syntax="yaml") == {"a": None}


def test_json_refusals_name_the_field() -> None:
    assert refusal(parse_config_text, '{"a": 1, "a": 2}', field="queue.config") == (
        "queue.config",
        "duplicate key 'a'",
    )
    assert refusal(parse_config_text, "[1, 2]", field="queue.config") == (
        "queue.config",
        "must be a mapping (JSON object or YAML mapping), got a list",
    )
    assert refusal(parse_config_text, "plain text", field="queue.config") == (
        "queue.config",
        "must be a mapping (JSON object or YAML mapping), got a str",
    )


def test_json_text_past_the_size_bound_is_refused_before_parsing() -> None:
    text = '{"a": "' + "x" * MAX_DOCUMENT_BYTES + '"}'
    assert refusal(parse_config_text, text, field="queue.config") == (
        "queue.config",
        f"the document is {len(text)} bytes; the limit is {MAX_DOCUMENT_BYTES} bytes",
    )


# -- templates ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "detail"),
    [
        ({"a": "{{x}}"}, "template variable 'x' at a has no value"),
        ({"a": {"b": ["ok", "n={{x}}"]}}, "template variable 'x' at a.b[1] has no value"),
        ({"a": [{"b": "{{ x }}"}]}, "template variable 'x' at a[0].b has no value"),
        ({"a": {"{{x}}-key": 1}}, "template variable 'x' at a.{{x}}-key has no value"),
    ],
)
def test_a_placeholder_without_value_is_refused_naming_where(config: dict[str, Any], detail: str) -> None:
    assert refusal(render, config, {}, field="resource_args") == ("resource_args", detail)
    assert refusal(render, config, {})[0] == "config"


@pytest.mark.parametrize(
    ("config", "detail"),
    [
        ({"{{k}}": 1, "a": 2}, "two keys at top level both become 'a'"),
        ({"x": {"y": [{"{{k}}": 1, "a": 2}]}}, "two keys at x.y[0] both become 'a'"),
    ],
)
def test_keys_that_render_equal_are_refused_naming_where(config: dict[str, Any], detail: str) -> None:
    assert refusal(render, config, {"k": "a"}, field="resource_args") == ("resource_args", detail)


def test_strings_are_listed_with_their_paths_from_the_top() -> None:
    assert iter_strings({"a": [{"b": "x"}, "y"], "c": 1}) == [
        ("a", "a"),
        ("a[0].b", "b"),
        ("a[0].b", "x"),
        ("a[1]", "y"),
        ("c", "c"),
    ]


def test_merge_results_share_no_nested_object_with_their_inputs() -> None:
    # GIVEN a base and an override whose values nest two levels deep
    base = {"keep": [{"n": 1}], "both": {"env": [{"name": "A"}]}}
    override = {"new": [{"n": 2}], "both": {"args": [{"flag": "x"}]}}
    before = (copy.deepcopy(base), copy.deepcopy(override))
    # WHEN the merge result is changed all the way down
    merged = deep_merge(base, override)
    merged["keep"][0]["n"] = 0
    merged["new"][0]["n"] = 0
    merged["both"]["env"][0]["name"] = "Z"
    merged["both"]["args"][0]["flag"] = "z"
    # THEN neither input changed
    assert (base, override) == before


# -- macros ---------------------------------------------------------------------------------
def test_unset_macros_are_empty_text_never_none() -> None:
    obj = {name: f"[${{{name}}}]" for name in MACROS}
    assert substitute_macros(obj, MacroValues()) == dict.fromkeys(MACROS, "[]")


def test_macro_values_refuse_unknown_names_none_and_change() -> None:
    with pytest.raises(ValidationError, match="HOME"):
        MacroValues.model_validate({"HOME": "/root"})
    with pytest.raises(ValidationError, match="author"):
        MacroValues.model_validate({"author": None})
    values = MacroValues(author="ana")
    with pytest.raises(ValidationError):
        values.author = "eve"  # type: ignore[misc]


def test_the_project_is_lower_cased_and_defaults_as_wandb_does() -> None:
    assert project_name("Vision-Team") == "vision-team"
    assert project_name(None) == "uncategorized"
    assert project_name("") == "uncategorized"


def test_unknown_macros_are_refused_naming_the_place_and_the_allowed_ones() -> None:
    assert refusal(check_macros, {"a": [{"b": "${HOME}"}]}, "config") == (
        "config",
        f"unknown macro '${{HOME}}' at a[0].b; allowed: {ALLOWED}",
    )
    assert refusal(check_macros, "${HOME}", "config") == (
        "config",
        f"unknown macro '${{HOME}}'; allowed: {ALLOWED}",
    )
    assert refusal(substitute_macros, {"a": ["${PATH}"]}, MacroValues()) == (
        "resource_args",
        f"unknown macro '${{PATH}}' at a[0]; allowed: {ALLOWED}",
    )
    assert refusal(substitute_macros, {"a": "${PATH}"}, MacroValues(), field="config")[0] == "config"


def test_keys_that_become_equal_after_substitution_are_refused() -> None:
    assert refusal(substitute_macros, {"${run_id}": 1, "r1": 2}, MacroValues(run_id="r1")) == (
        "resource_args",
        "two keys at top level both become 'r1'",
    )


# -- queue settings and overrides -----------------------------------------------------------
def make_queue(**changes: Any) -> Queue:
    fields: dict[str, Any] = {
        "name": "gpu",
        "resource": "kubernetes",
        "created_at": datetime(2024, 1, 1, tzinfo=UTC),
    }
    return Queue.model_validate(fields | changes)


def test_an_undeclared_placeholder_is_refused_listing_what_is_declared() -> None:
    bare = QueueSettings(resource="kubernetes", config={"n": "{{ workers }}"})
    assert refusal(check_queue_settings, bare) == (
        "config",
        "placeholder '{{workers}}' is not declared in template_variables (declared: none)",
    )
    declared = QueueSettings(
        resource="kubernetes",
        config={"n": "{{ workers }}", "m": "{{b}}-{{a}}"},
        template_variables={"b": {"type": "int"}, "a": {"type": "int"}},
    )
    assert refusal(check_queue_settings, declared) == (
        "config",
        "placeholder '{{workers}}' is not declared in template_variables (declared: ['a', 'b'])",
    )


def test_override_refusals_name_the_field_and_the_reason() -> None:
    assert refusal(resolve_resource_args, make_queue(), RunSpec(resource_args={"kubernetes": [1]})) == (
        "resource_args.kubernetes",
        "must be a mapping, got a list",
    )
    locked = make_queue(allow_overrides=False)
    assert refusal(resolve_resource_args, locked, RunSpec(resource_args={"kubernetes": {"a": 1}})) == (
        "resource_args",
        "queue 'gpu' does not allow resource_args overrides",
    )
    assert refusal(resolve_resource_args, make_queue(), RunSpec(resource_args={"sagemaker": {}})) == (
        "resource_args.sagemaker",
        "queue 'gpu' targets 'kubernetes'; put overrides under resource_args.kubernetes",
    )
