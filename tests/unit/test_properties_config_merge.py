"""Properties of config merging (issue 14): a run's ``resource_args`` over its queue's config.

The documented rules (``launchq.config.templates.deep_merge``, ``resolve.resolve_resource_args``):
mappings merge recursively, anything else in the override (lists too) replaces; a queue that
does not allow overrides refuses them; inputs are never mutated, and the result shares no
object with them (a later change to a run's resolved args cannot reach its queue's config).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from launchq.config.resolve import resolve_resource_args
from launchq.config.templates import deep_merge
from launchq.domain.models import Queue, RunSpec
from launchq.errors import InvalidInput

# Keys and strings with no ``${`` or ``{{`` (macros and placeholders have properties of their own).
keys = st.text(alphabet="abcxyz_", min_size=1, max_size=3)
scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.text(alphabet="abc -.", max_size=4)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=12,
)
objects = st.dictionaries(keys, values, max_size=5)


@given(base=objects)
def test_merging_with_empty_is_identity(base: dict[str, Any]) -> None:
    assert deep_merge(base, {}) == base
    assert deep_merge({}, base) == base


@given(base=objects, override=objects)
def test_override_wins_key_by_key_and_nested_mappings_merge(
    base: dict[str, Any], override: dict[str, Any]
) -> None:
    merged = deep_merge(base, override)
    assert set(merged) == set(base) | set(override)
    for key, value in merged.items():
        if key not in override:
            assert value == base[key]  # untouched by the override
        elif isinstance(override[key], dict) and isinstance(base.get(key), dict):
            assert value == deep_merge(base[key], override[key])  # nested mappings merge
        else:
            assert value == override[key]  # scalars and lists replace, never concatenate


@given(base=objects, override=objects)
def test_merge_never_mutates_nor_shares_its_inputs(base: dict[str, Any], override: dict[str, Any]) -> None:
    before = copy.deepcopy((base, override))
    merged = deep_merge(base, override)
    assert (base, override) == before
    _poison(merged)  # change every container of the result in place
    assert (base, override) == before


@given(base=objects, override=objects)
def test_merging_again_changes_nothing(base: dict[str, Any], override: dict[str, Any]) -> None:
    merged = deep_merge(base, override)
    assert deep_merge(merged, override) == merged
    assert deep_merge(base, base) == base


@given(config=objects, override=objects)
def test_run_resource_args_win_over_the_queue_config(
    config: dict[str, Any], override: dict[str, Any]
) -> None:
    # GIVEN a local-process queue whose config is `config`, and a run overriding with `override`
    queue = _queue(config, allow_overrides=True)
    spec = RunSpec(docker_image="python:3.11", resource_args={"local-process": override})
    snapshot = copy.deepcopy(queue.config)
    # WHEN its resource args are resolved  THEN they are the documented merge; the queue is unchanged
    assert resolve_resource_args(queue, spec) == deep_merge(config, override)
    assert queue.config == snapshot


@given(config=objects, override=objects.filter(bool))
def test_a_queue_without_overrides_refuses_them(config: dict[str, Any], override: dict[str, Any]) -> None:
    queue = _queue(config, allow_overrides=False)
    spec = RunSpec(docker_image="python:3.11", resource_args={"local-process": override})
    with pytest.raises(InvalidInput) as refused:
        resolve_resource_args(queue, spec)
    assert refused.value.field == "resource_args"


def _queue(config: dict[str, Any], *, allow_overrides: bool) -> Queue:
    return Queue(
        name="gpu",
        resource="local-process",
        config=config,
        allow_overrides=allow_overrides,
        created_at=datetime.now(UTC),
    )


def _poison(obj: Any) -> None:
    if isinstance(obj, dict):
        for value in obj.values():
            _poison(value)
        obj["poisoned"] = True
    elif isinstance(obj, list):
        for item in obj:
            _poison(item)
        obj.append("poisoned")
