"""Content-hash image tags: every build input counts, and nothing else does."""

from __future__ import annotations

import re

import pytest

from launchq.build.tag import content_tag

INPUTS = ("git:" + "a" * 40, "FROM python:3.11-slim\n", "python:3.11-slim", "linux/amd64")


def test_tag_is_at_least_16_lowercase_hex_digits() -> None:
    tag = content_tag(*INPUTS)

    assert re.fullmatch(r"[0-9a-f]{16,}", tag)


def test_same_inputs_give_the_same_tag() -> None:
    assert content_tag(*INPUTS) == content_tag(*INPUTS)


@pytest.mark.parametrize(
    "changed",
    [
        ("git:" + "b" * 40, *INPUTS[1:]),
        (INPUTS[0], "FROM python:3.11-slim\nRUN true\n", *INPUTS[2:]),
        (*INPUTS[:2], "python:3.12-slim", INPUTS[3]),
        (*INPUTS[:3], "linux/arm64"),
    ],
    ids=["source", "dockerfile", "base-image", "platform"],
)
def test_each_input_changes_the_tag(changed: tuple[str, str, str, str]) -> None:
    assert content_tag(*changed) != content_tag(*INPUTS)


def test_moving_text_across_a_field_boundary_changes_the_tag() -> None:
    # GIVEN the same concatenated text split differently between the parts
    first = content_tag("code:ab", "c", "base", "linux/amd64")
    second = content_tag("code:a", "bc", "base", "linux/amd64")

    # THEN the tags differ (the parts are length-prefixed)
    assert first != second
