"""One translation of pydantic's ValidationError into InvalidInput.

The field is the first error's dotted location under the caller's prefix, the message is
pydantic's without ``Value error, ``, and further errors follow as ``field: message``.
"""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic_core import ErrorDetails

from launchq.errors import InvalidInput
from launchq.validation import error_message, invalid_input, problems


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: int


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    inner: Inner | None = None
    items: list[int] = []

    @field_validator("name")
    @classmethod
    def _no_spaces(cls, value: str) -> str:
        if " " in value:
            raise ValueError("must not contain spaces")
        return value


def refusal(data: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate(data)
    return caught.value


def test_the_field_is_the_dotted_location_under_the_prefix() -> None:
    error = invalid_input(refusal({"name": "a", "inner": {"size": "big"}}), "resource_args.x")

    assert isinstance(error, InvalidInput)
    assert error.field == "resource_args.x.inner.size"
    assert error.detail == "Input should be a valid integer, unable to parse string as an integer"


def test_list_indexes_are_parts_of_the_location() -> None:
    error = invalid_input(refusal({"name": "a", "items": [1, "two"]}))

    assert error.field == "items.1"


def test_our_own_validators_speak_without_pydantics_value_error_prefix() -> None:
    error = invalid_input(refusal({"name": "two words"}))

    assert (error.field, error.detail) == ("name", "must not contain spaces")


def test_every_further_error_follows_with_its_field() -> None:
    error = invalid_input(refusal({"name": "two words", "inner": {}, "colour": "red"}), "p")

    assert error.field == "p.name"
    assert error.detail == (
        "must not contain spaces; p.inner.size: Field required; p.colour: Extra inputs are not permitted"
    )


def test_an_error_about_the_whole_input_is_named_by_whole() -> None:
    exc = refusal("not a mapping")

    assert invalid_input(exc, whole="body").field == "body"
    assert invalid_input(exc).field is None  # no prefix, no location: no field to name
    assert problems(exc, whole="event") == [
        ("event", "Input should be a valid dictionary or instance of Outer")
    ]


def test_a_caller_may_word_a_message_itself() -> None:
    def unknown_key(error: ErrorDetails) -> str:
        return "unknown key" if error["type"] == "extra_forbidden" else error_message(error)

    error = invalid_input(refusal({"name": "a", "colour": "red"}), "cfg", message=unknown_key)

    assert (error.field, error.detail) == ("cfg.colour", "unknown key")


def test_problems_lists_every_error_in_order_and_describe_replaces_the_default() -> None:
    exc = refusal({"name": "two words", "inner": {}})

    assert problems(exc, "p") == [("p.name", "must not contain spaces"), ("p.inner.size", "Field required")]
    assert problems(exc, describe=lambda error: (error["type"], "x")) == [
        ("value_error", "x"),
        ("missing", "x"),
    ]
