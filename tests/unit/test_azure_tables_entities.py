"""The Azure Tables store's keys and record packing, without a server.

The line's order is the store's order of claims: a string sort of RowKeys must be exactly
priority first, then seq. Packing must give back the same text whatever its size, split
into properties Azure accepts (64 KiB each), and refuse what no entity can hold.
"""

from __future__ import annotations

import os
from base64 import b64encode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from launchq.adapters.stores.azure_tables_entities import (
    LINE_PREFIX,
    MAX_PARTS,
    PART_BYTES,
    check_prefix,
    clock_seq,
    line_row,
    packed,
    prefix_range,
    unpacked,
)
from launchq.errors import InvalidInput, PayloadTooLarge

PRIORITIES = st.integers(min_value=0, max_value=99)
SEQS = st.integers(min_value=0, max_value=2**63 - 1)


@given(st.lists(st.tuples(PRIORITIES, SEQS), min_size=2, max_size=60, unique=True))
def test_line_keys_sort_into_strict_priority_then_fifo(entries: list[tuple[int, int]]) -> None:
    # GIVEN line entries enqueued with any priorities and seqs
    by_key = {line_row(priority, seq): (priority, seq) for priority, seq in entries}
    # WHEN their RowKeys are sorted as the table sorts them (ordinal string order)
    order = [by_key[key] for key in sorted(by_key)]
    # THEN the head is the most urgent priority, and within one priority the first enqueued
    assert order == sorted(entries)


@given(PRIORITIES, SEQS)
def test_every_line_key_lies_in_the_range_the_head_query_reads(priority: int, seq: int) -> None:
    first, after = prefix_range(LINE_PREFIX)
    assert first <= line_row(priority, seq) < after


def test_a_key_that_would_not_sort_is_refused_rather_than_misplaced() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        line_row(100, 1)
    with pytest.raises(ValueError, match="does not fit"):
        line_row(0, -1)


def test_clock_seqs_fit_a_line_key_and_grow() -> None:
    first = clock_seq()
    assert 0 < first < 2**53  # exact in any JSON reader
    assert clock_seq() >= first
    line_row(3, first)


@given(st.text(max_size=3000))
def test_packed_text_unpacks_to_itself(text: str) -> None:
    assert unpacked(packed(text, "spec")) == text


def test_a_200_kb_incompressible_spec_is_split_into_properties_azure_accepts() -> None:
    # GIVEN ~200 KB of JSON-safe text that compression cannot shrink much
    text = b64encode(os.urandom(150_000)).decode()
    # WHEN it is packed for an entity
    entity = packed(text, "spec")
    # THEN it spans several binary properties, each within Azure's 64 KiB, and comes back whole
    parts = [entity[f"B{index:02d}"] for index in range(entity["Parts"])]
    assert entity["Parts"] >= 3
    assert all(isinstance(part, bytes) and 0 < len(part) <= PART_BYTES for part in parts)
    assert unpacked(entity) == text


def test_text_no_entity_can_hold_is_payload_too_large_naming_the_field() -> None:
    too_big = b64encode(os.urandom(MAX_PARTS * PART_BYTES)).decode()
    with pytest.raises(PayloadTooLarge) as raised:
        packed(too_big, "spec")
    assert raised.value.field == "spec"


@pytest.mark.parametrize("prefix", ["", "1abc", "launch-q", "a" * 51, "la_q"])
def test_a_prefix_that_cannot_start_a_table_name_is_refused(prefix: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_prefix(prefix)
    assert raised.value.field == "prefix"


def test_a_valid_prefix_is_kept() -> None:
    assert check_prefix("launchq") == "launchq"
