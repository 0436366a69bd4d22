"""``${macro}`` substitution in resource args, restricted to a fixed list of names.

W&B fills ``${image_uri}``, ``${run_id}`` and friends, and then also *any* environment
variable of the agent (``${AWS_SECRET_ACCESS_KEY}`` included). launchq allows exactly the
names in ``MACROS``: anything else is refused when the queue is created or the run is
enqueued, and ``substitute_macros`` takes its values from a ``MacroValues`` only -- the
process environment is never consulted.

``${project_name}`` is lower-cased, as W&B's agent does (``LaunchProject`` lower-cases its
target project, which feeds both the macro and ``WANDB_PROJECT``): ``project_name`` is that
one rule, for the macro and for the variable every target injects.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from launchq.config.templates import iter_strings, map_strings
from launchq.errors import InvalidInput

MACROS = ("image_uri", "run_id", "run_name", "project_name", "entity_name", "queue_name", "author")
# Anything between ``${`` and ``}`` is a macro reference, so ``${HOME:-x}`` is caught, not skipped.
MACRO = re.compile(r"\$\{([^}]*)\}")
DEFAULT_PROJECT = "uncategorized"


def project_name(project: str | None) -> str:
    """The W&B project a run reports to, spelt as W&B's agent spells it: lower case."""
    return (project or DEFAULT_PROJECT).lower()


class MacroValues(BaseModel):
    """The values macros stand for when a run is submitted (empty string when unknown)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_uri: str = ""
    run_id: str = ""
    run_name: str = ""
    project_name: str = ""
    entity_name: str = ""
    queue_name: str = ""
    author: str = ""

    @field_validator("project_name")
    @classmethod
    def _lower_case(cls, value: str) -> str:
        return value.lower()


def _unknown(name: str, path: str, field: str) -> InvalidInput:
    allowed = ", ".join(f"${{{macro}}}" for macro in MACROS)
    where = f" at {path}" if path else ""
    return InvalidInput(f"unknown macro '${{{name}}}'{where}; allowed: {allowed}", field=field)


def check_macros(obj: Any, field: str) -> None:
    """Refuse any ``${name}`` in keys or string values whose name is not in ``MACROS``."""
    for path, text in iter_strings(obj):
        for match in MACRO.finditer(text):
            if match.group(1) not in MACROS:
                raise _unknown(match.group(1), path, field)


def substitute_macros(obj: Any, values: MacroValues, field: str = "resource_args") -> Any:
    """A copy of ``obj`` with every ``${macro}`` in keys and string values replaced.

    Only ``values`` is read. An unknown macro is refused, never left in place.
    """
    table = values.model_dump()

    def substitute(text: str, path: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in MACROS:
                raise _unknown(name, path, field)
            return str(table[name])

        return MACRO.sub(one, text)

    return map_strings(obj, substitute, substitute, field)
