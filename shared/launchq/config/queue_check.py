"""What of a queue config template can be checked when the queue is created or patched.

A queue config is a template: runs fill its ``{{placeholders}}`` and may deep-merge
overrides over it. So the config alone cannot be complete, but a key its target does not
know, or a value of the wrong type that no run can change, is the queue's mistake: left
until enqueue, every run on the queue would be refused about ``resource_args.<r>.x``, a
field the run never sent. The check validates the config with each placeholder stood in
by a value its variable allows, then blames the config only for what is in it:

- a required key that is missing is not blamed (a run's ``resource_args`` may bring it);
- an unknown key is blamed unless a free-text placeholder could rename it;
- a bad value is blamed unless a free-text placeholder (a string variable without
  ``enum``) feeds it, since the stand-in is then only one of many possible values.
"""

from __future__ import annotations

import math
from typing import Any

from launchq.config.templates import placeholders
from launchq.domain.template_vars import NumberVariable, Scalar, StringVariable

UNKNOWN_KEY = "unknown key"
_FREE_TEXT_STAND_IN = "placeholder"


def _number_stand_in(var: NumberVariable) -> int | float:
    """The minimum; else 1, or the maximum when that is below 1."""
    if var.min is not None:
        return math.ceil(var.min) if var.integral else var.min
    if var.max is not None and var.max < 1:
        return math.floor(var.max) if var.integral else var.max
    return 1 if var.integral else 1.0


def stand_in_values(schema: dict[str, StringVariable | NumberVariable]) -> dict[str, Scalar]:
    """A value each variable allows: its default, else its first enum value, else its minimum."""
    values: dict[str, Scalar] = {}
    for name, var in schema.items():
        if var.default is not None:
            values[name] = var.default
        elif isinstance(var, StringVariable):
            values[name] = var.enum[0] if var.enum else _FREE_TEXT_STAND_IN
        else:
            values[name] = _number_stand_in(var)
    return values


def free_text_names(schema: dict[str, StringVariable | NumberVariable]) -> set[str]:
    """Variables whose values are any text: a stand-in says nothing about what runs will send."""
    return {name for name, var in schema.items() if isinstance(var, StringVariable) and not var.enum}


def _fold(key: str) -> str:
    """SageMaker keys match whatever their case and underscores (``volume_size_in_gb``)."""
    return key.replace("_", "").lower()


def _lookup(config: dict[str, Any], path: str) -> tuple[str, Any] | None:
    """The (key as written, value) at dotted ``path`` in ``config``, or None when absent."""
    node: Any = config
    found: tuple[str, Any] | None = None
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        key = part if part in node else next((k for k in node if _fold(k) == _fold(part)), None)
        if key is None:
            return None
        found = (key, node[key])
        node = node[key]
    return found


def _mentions(obj: Any, names: set[str]) -> bool:
    return bool(placeholders(obj) & names)


def config_is_to_blame(config: dict[str, Any], path: str, detail: str, free: set[str]) -> bool:
    """Whether an error about ``path`` (dotted, inside the unwrapped config) is the config's own.

    ``path == ""`` is an error about the config as a whole; ``free`` names the free-text
    variables (see the module docstring for the rules).
    """
    if not path:
        return not _mentions(config, free)
    found = _lookup(config, path)
    if found is None:
        return False
    key, value = found
    if detail.startswith(UNKNOWN_KEY):
        return not _mentions(key, free)
    return not _mentions({key: value}, free)
