"""``make mutation``'s score: equivalent mutants set apart, every other outcome counted."""

from __future__ import annotations

from tests.mutation.report import load_equivalent, render_table, score_module


def test_the_score_counts_killed_out_of_the_non_equivalent_mutants() -> None:
    outcomes = {
        "m.x__mutmut_1": "killed",
        "m.x__mutmut_2": "timeout",
        "m.x__mutmut_3": "survived",
        "m.x__mutmut_4": "survived",
        "m.x__mutmut_5": "no tests",
        "m.x__mutmut_6": None,
        "m.x__mutmut_7": "killed",
    }
    equivalent = {"m.x__mutmut_4": "same value", "m.x__mutmut_7": "listed, but a test kills it"}
    score = score_module("m.py", outcomes, equivalent)
    assert (score.killed, score.equivalent, score.total) == (3, 1, 7)
    assert score.survivors == ["m.x__mutmut_3", "m.x__mutmut_5"]
    assert score.unchecked == ["m.x__mutmut_6"]
    assert score.stale == ["m.x__mutmut_7"]
    assert score.score == 50.0
    assert render_table([score]).splitlines()[1] == "m.py        7       3         2           1   50.0%"


def test_a_module_with_nothing_left_to_kill_scores_full() -> None:
    assert score_module("m.py", {"m.x__mutmut_1": "survived"}, {"m.x__mutmut_1": "why"}).score == 100.0


def test_every_listed_equivalent_mutant_gives_its_reason() -> None:
    listed = load_equivalent()
    assert listed
    assert all(name.startswith("launchq.") and "__mutmut_" in name for name in listed)
    assert all(len(reason) > 20 for reason in listed.values())
