"""Run priority: ``critical|high|medium|low`` or ``0..3``; lower runs first."""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer


class Priority(IntEnum):
    CRITICAL = 0
    HIGH = 1
    MEDIUM = 2
    LOW = 3

    @property
    def label(self) -> str:
        return self.name.lower()


def parse_priority(value: Any) -> Priority:
    """Accept a name (any case) or an integer 0..3; anything else is a ValueError naming the choices."""
    if isinstance(value, Priority):
        return value
    if isinstance(value, bool):
        raise ValueError("must be one of critical, high, medium, low or 0..3")  # noqa: TRY004 - pydantic wants ValueError
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(value)
        if 0 <= number <= 3:
            return Priority(number)
    elif isinstance(value, str) and value.strip().upper() in Priority.__members__:
        return Priority[value.strip().upper()]
    raise ValueError(f"{value!r} is not a priority; use critical, high, medium, low or 0..3")


#: Each priority's label, also under its plain number (an ``IntEnum`` hashes as its int):
#: the JSON serializer is this dict's lookup, called by pydantic without a Python frame.
_LABELS: dict[int, str] = {priority: priority.label for priority in Priority}

PriorityField = Annotated[
    Priority,
    BeforeValidator(parse_priority),
    PlainSerializer(_LABELS.__getitem__, return_type=str, when_used="json"),
]
