"""The run state machine and priorities, pinned value by value.

Stores keep a run's state as its string and its priority as its number, and clients read
both: a renamed state or a shifted priority would strand stored runs, so every value is
spelt out here rather than derived from the code under test.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from launchq.domain.priority import Priority, PriorityField, parse_priority
from launchq.domain.states import ACTIVE, ALLOWED, TERMINAL, RunState, can_transition

S = RunState

STORED_STRINGS = {
    S.QUEUED: "queued",
    S.CLAIMED: "claimed",
    S.BUILDING: "building",
    S.STARTING: "starting",
    S.RUNNING: "running",
    S.FINISHED: "finished",
    S.FAILED: "failed",
    S.STOPPING: "stopping",
    S.STOPPED: "stopped",
    S.CANCELLED: "cancelled",
    S.PREEMPTED: "preempted",
    S.DEAD_LETTER: "dead_letter",
}

# The run state machine's transition table, written out in full.
EXPECTED_MOVES = {
    S.QUEUED: {S.CLAIMED, S.CANCELLED},
    S.CLAIMED: {S.CLAIMED, S.QUEUED, S.BUILDING, S.STARTING, S.DEAD_LETTER, S.STOPPING, S.STOPPED},
    S.BUILDING: {S.BUILDING, S.QUEUED, S.STARTING, S.DEAD_LETTER, S.STOPPING, S.FAILED},
    S.STARTING: {S.RUNNING, S.FINISHED, S.FAILED, S.DEAD_LETTER, S.STOPPING, S.PREEMPTED},
    S.RUNNING: {S.FINISHED, S.FAILED, S.STOPPING, S.PREEMPTED},
    S.STOPPING: {S.STOPPED, S.FINISHED, S.FAILED},
    S.PREEMPTED: {S.QUEUED},
    S.DEAD_LETTER: {S.QUEUED},
    S.FINISHED: set(),
    S.FAILED: set(),
    S.STOPPED: set(),
    S.CANCELLED: set(),
}


# -- states ---------------------------------------------------------------------------------
def test_every_run_state_keeps_the_string_stores_and_clients_hold() -> None:
    assert {state: state.value for state in RunState} == STORED_STRINGS
    assert [RunState(text) for text in STORED_STRINGS.values()] == list(STORED_STRINGS)


def test_the_transition_table_is_exactly_the_documented_one() -> None:
    assert {src: set(dst) for src, dst in ALLOWED.items()} == EXPECTED_MOVES


@pytest.mark.parametrize("src", list(RunState))
def test_can_transition_allows_exactly_the_table_moves(src: RunState) -> None:
    allowed = {dst for dst in RunState if can_transition(src, dst)}
    assert allowed == EXPECTED_MOVES[src]


def test_slot_holding_and_final_states() -> None:
    assert {S.CLAIMED, S.BUILDING, S.STARTING, S.RUNNING, S.STOPPING} == ACTIVE
    assert {S.FINISHED, S.FAILED, S.STOPPED, S.CANCELLED, S.DEAD_LETTER} == TERMINAL
    assert [state for state in RunState if state.active] == [
        S.CLAIMED,
        S.BUILDING,
        S.STARTING,
        S.RUNNING,
        S.STOPPING,
    ]
    # a final state moves nowhere; a state that moves nowhere is final
    assert {state for state, moves in EXPECTED_MOVES.items() if not moves} == TERMINAL - {S.DEAD_LETTER}


# -- priorities -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, Priority.CRITICAL),
        ("0", Priority.CRITICAL),
        (" 0 ", Priority.CRITICAL),
        (1, Priority.HIGH),
        ("2", Priority.MEDIUM),
        (3, Priority.LOW),
        ("3", Priority.LOW),
        ("critical", Priority.CRITICAL),
        (" High ", Priority.HIGH),
        ("LOW", Priority.LOW),
        (Priority.MEDIUM, Priority.MEDIUM),
    ],
)
def test_priorities_parse_from_names_and_numbers_0_to_3(value: Any, expected: Priority) -> None:
    assert parse_priority(value) is expected


@pytest.mark.parametrize("value", [4, "4", -1, "-1", 10, "", "urgent", 1.0, None])
def test_anything_else_is_refused_naming_the_choices(value: Any) -> None:
    with pytest.raises(ValueError) as caught:
        parse_priority(value)
    assert str(caught.value) == f"{value!r} is not a priority; use critical, high, medium, low or 0..3"


@pytest.mark.parametrize("value", [True, False])
def test_booleans_are_not_priorities_even_though_they_are_ints(value: bool) -> None:
    with pytest.raises(ValueError) as caught:
        parse_priority(value)
    assert str(caught.value) == "must be one of critical, high, medium, low or 0..3"


def test_priority_numbers_and_labels_are_the_wire_format() -> None:
    class Body(BaseModel):
        priority: PriorityField

    assert [(int(p), p.label) for p in Priority] == [(0, "critical"), (1, "high"), (2, "medium"), (3, "low")]
    assert Body(priority="0").model_dump_json() == '{"priority":"critical"}'
    assert Body(priority=3).model_dump() == {"priority": Priority.LOW}
