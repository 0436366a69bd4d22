"""Known secret values are replaced by ``***``; short values are not (``launchq.redaction``)."""

from __future__ import annotations

import pytest

from launchq import redaction
from launchq.redaction import (
    MASK,
    MIN_LENGTH,
    held_back,
    redact,
    redact_chunk,
    redact_json,
    remember,
    server_secrets,
)


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    """No remembered values and no credential in the environment, unless a test sets one."""
    monkeypatch.setattr(redaction, "_remembered", set())
    for name in redaction.SERVER_CREDENTIALS:
        monkeypatch.delenv(name, raising=False)


def test_a_value_is_masked_wherever_it_stands_even_inside_a_word() -> None:
    values = frozenset({"hf_SeCrEt42"})
    text = "token=hf_SeCrEt42; again:hf_SeCrEt42xyz and prefixhf_SeCrEt42"
    assert redact(text, values) == f"token={MASK}; again:{MASK}xyz and prefix{MASK}"


def test_the_longest_value_wins_when_one_contains_another() -> None:
    values = frozenset({"abcd", "abcdefgh"})
    assert redact("x abcdefgh y abcd", values) == f"x {MASK} y {MASK}"


def test_regex_characters_in_a_value_are_literal() -> None:
    values = frozenset({"a.b*c(d)"})
    assert redact("a.b*c(d) axbbbcd", values) == f"{MASK} axbbbcd"


@pytest.mark.parametrize("short", ["1", "ab", "yes"])
def test_values_of_one_to_three_characters_are_not_redacted(short: str) -> None:
    assert MIN_LENGTH == 4
    remember([short])
    assert redact(f"a {short} b", frozenset({short})) == f"a {short} b"
    assert redact(f"a {short} b") == f"a {short} b"


def test_a_four_character_value_is_redacted() -> None:
    assert redact("pin 9876 ok", frozenset({"9876"})) == f"pin {MASK} ok"


def test_the_servers_credentials_are_redacted_from_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG")
    monkeypatch.setenv("LAUNCHQ_API_KEY", "lq_live_0123456789")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEJr")
    monkeypatch.setenv("HF_TOKEN", "passed-on-by-inherit-env")  # not the server's own: not guessed
    assert server_secrets() == {"wJalrXUtnFEMI/K7MDENG", "lq_live_0123456789", "FwoGZXIvYXdzEJr"}
    text = "key wJalrXUtnFEMI/K7MDENG, api lq_live_0123456789, st FwoGZXIvYXdzEJr, passed-on-by-inherit-env"
    assert redact(text) == f"key {MASK}, api {MASK}, st {MASK}, passed-on-by-inherit-env"


def test_remembered_values_are_redacted_from_then_on() -> None:
    assert redact("tok hf_remembered") == "tok hf_remembered"
    remember(["hf_remembered"])
    assert redact("tok hf_remembered") == f"tok {MASK}"


def test_json_is_redacted_in_every_string_and_key_other_types_kept() -> None:
    remember(["s3cr3t-value"])
    body = {"reason": "got s3cr3t-value", "s3cr3t-value": [1, None, True, {"x": "s3cr3t-value!"}]}
    assert redact_json(body) == {"reason": f"got {MASK}", MASK: [1, None, True, {"x": f"{MASK}!"}]}


def test_a_secret_split_across_two_chunks_is_held_back_then_masked() -> None:
    remember(["hf_split_secret"])
    first, second = "out: hf_spl", "it_secret done"
    # WHEN a log that is still growing is read in two chunks (offsets in bytes)
    text, nxt = redact_chunk(first, len(first.encode()), lambda t: len(t.encode()))
    # THEN the first holds back what could begin the secret, and the next read masks it whole
    assert (text, nxt) == ("out: ", len(b"out: "))
    rest = (first + second)[nxt:]
    assert redact_chunk(rest, len(first + second), lambda t: len(t.encode()))[0] == f"{MASK} done"


def test_nothing_is_held_back_once_the_log_has_ended() -> None:
    remember(["hf_split_secret"])
    assert redact_chunk("end hf_spl", 10, None) == ("end hf_spl", 10)


def test_held_back_counts_only_a_real_prefix() -> None:
    values = frozenset({"abcdef"})
    assert held_back("xx abc", values) == 3
    assert held_back("xx abd", values) == 0
    assert held_back("xx abcdef", values) == 0  # a whole value is masked, not held
