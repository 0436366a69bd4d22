"""Properties of ``${macro}`` substitution (issue 14; ``launchq.config.macros``).

Documented: only the names in ``MACROS`` are substituted, in keys and string values alike;
any other ``${...}`` is refused (``InvalidInput`` naming the field), never left in place and
never looked up anywhere; values come from ``MacroValues`` only, so nothing of the process
environment can reach a run's resource args (W&B's agent fills macros from its environment).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from launchq.config.macros import MACRO, MACROS, MacroValues, check_macros, substitute_macros
from launchq.errors import InvalidInput

plain = st.text(alphabet="ab -_/:.", max_size=6)
"""Text that holds no macro reference (no ``$``, no braces)."""
known = st.sampled_from(MACROS).map(lambda name: f"${{{name}}}")
unknown_names = st.text(alphabet="ABCXYZ_abz019:-", min_size=1, max_size=10).filter(lambda n: n not in MACROS)
strings = st.lists(plain | known, max_size=4).map("".join)
documents = st.recursive(
    strings | st.integers(-3, 3) | st.booleans() | st.none(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(plain.filter(bool), inner, max_size=3),
    max_leaves=10,
)
# Values that cannot themselves look like a macro: substitution is one pass, so a value
# containing ``${x}`` is left as text (``test_substitution_is_one_pass`` says so).
macro_values = st.builds(MacroValues, **{name: st.text(alphabet="xyz0-9./:", max_size=8) for name in MACROS})


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield key
            yield from _strings(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from _strings(item)
    elif isinstance(obj, str):
        yield obj


@given(doc=documents, values=macro_values)
def test_known_macros_are_all_replaced_by_their_values(doc: Any, values: MacroValues) -> None:
    before = copy.deepcopy(doc)
    out = substitute_macros(doc, values)
    assert doc == before  # the input is never changed
    assert not any(MACRO.search(text) for text in _strings(out))
    # the same document with each macro replaced by hand (keys are distinct: values hold no $)
    table = values.model_dump()
    expected_texts = sorted(_replace(text, table) for text in _strings(doc))
    assert sorted(_strings(out)) == expected_texts


def _replace(text: str, table: dict[str, str]) -> str:
    for name, value in table.items():
        text = text.replace(f"${{{name}}}", value)
    return text


@given(doc=documents, values=macro_values)
def test_text_without_macros_is_left_alone(doc: Any, values: MacroValues) -> None:
    assume(not any("$" in text for text in _strings(doc)))
    assert substitute_macros(doc, values) == doc


@given(doc=documents, values=macro_values)
def test_substitution_is_idempotent(doc: Any, values: MacroValues) -> None:
    once = substitute_macros(doc, values)
    assert substitute_macros(once, values) == once


@given(prefix=strings, name=unknown_names, suffix=strings, as_key=st.booleans(), values=macro_values)
def test_an_unknown_macro_is_refused_never_kept(
    prefix: str, name: str, suffix: str, as_key: bool, values: MacroValues
) -> None:
    text = f"{prefix}${{{name}}}{suffix}"
    doc: Any = {"args": [{text: 1}]} if as_key else {"args": [text]}
    for check in (lambda: check_macros(doc, "config"), lambda: substitute_macros(doc, values, "config")):
        with pytest.raises(InvalidInput) as refused:
            check()
        assert refused.value.field == "config"
        assert f"${{{name}}}" in str(refused.value)


@given(
    env_name=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=3, max_size=12).filter(
        lambda n: n.lower() not in MACROS
    ),
    secret=st.text(alphabet="QWJKVqwjkv", min_size=12, max_size=24),
    doc=documents,
    values=macro_values,
)
def test_no_environment_variable_reaches_the_output(
    env_name: str, secret: str, doc: Any, values: MacroValues
) -> None:
    # GIVEN a secret in the process environment, named by a macro reference and by its own name
    assume(env_name not in os.environ)
    os.environ[env_name] = secret
    try:
        # WHEN a document is substituted, a reference to the variable refused
        with pytest.raises(InvalidInput):
            substitute_macros({"env": [f"${{{env_name}}}"], "doc": doc}, values)
        out = substitute_macros(doc, values)
    finally:
        del os.environ[env_name]
    # THEN the secret's value appears nowhere in what came out (values hold none of its letters)
    assert not any(secret in text for text in _strings(out))


@given(values=macro_values)
def test_substitution_is_one_pass(values: MacroValues) -> None:
    """A value that spells a macro is text: substitution never recurses into what it put in."""
    spelled = MacroValues(**{**values.model_dump(), "run_name": "${image_uri}"})
    assert substitute_macros(["${run_name}"], spelled) == ["${image_uri}"]
