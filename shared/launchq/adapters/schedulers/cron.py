"""launchq's five-field cron (croniter's dialect, UTC) as EventBridge Scheduler's ``cron()``.

EventBridge reads six fields, ``cron(minute hour day-of-month month day-of-week year)``,
with rules of its own (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html):

- One of day-of-month and day-of-week must be ``?``. Cron fires when *either* restricted
  day field matches, which EventBridge cannot say, so a cron restricting both is refused.
- Day-of-week counts 1-7 from Sunday (cron: 0-6 from Sunday, 7 is Sunday too) and has no
  ``/``: numbers are shifted by one, steps and wrapping ranges are spelled out as the
  days they name; a field of names only (``MON-FRI``) is kept as it is written.
- ``*/n`` becomes ``<first>/n`` (``0/15``, as AWS's examples write it); a stepped range
  (``10-40/10``) and a wrapping range (``22-2``) become the list of values they name.
- ``L`` and ``nW`` in day-of-month and ``d#n`` in day-of-week mean the same in both
  dialects and are passed on, alone in their field as EventBridge requires. Anything
  else (a weekday ``L``, hashed ``H``) is refused.

Every refusal is ``InvalidInput(field="cron")`` naming the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from launchq.errors import InvalidInput

_PART = re.compile(
    r"^(?P<start>\*|[0-9]+|[A-Za-z]{3})(?:-(?P<end>[0-9]+|[A-Za-z]{3}))?(?:/(?P<step>[0-9]+))?$"
)
_NTH_WEEKDAY = re.compile(r"^(?P<day>[0-7]|[A-Za-z]{3})#(?P<nth>[1-5])$")
_NEAREST_WEEKDAY = re.compile(r"^(?P<day>[0-9]{1,2})W$", re.IGNORECASE)
_ANY = frozenset({"*", "?"})
MAX_EXPRESSION = 256  # EventBridge Scheduler's limit on ScheduleExpression


@dataclass(frozen=True)
class _Field:
    label: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] is the value low + i

    def value(self, token: str) -> int:
        """The number ``token`` stands for (a number or one of the field's names)."""
        if token.isdigit():
            number = int(token)
        elif token.upper() in self.names:
            number = self.low + self.names.index(token.upper())
        else:
            raise _refuse(f"{token!r} is not a {self.label} value")
        if not self.low <= number <= self.high:
            raise _refuse(f"{self.label} {number} is outside {self.low}-{self.high}")
        return number

    def step(self, token: str) -> int:
        step = int(token)
        if not 1 <= step <= self.high - self.low:
            raise _refuse(f"{self.label} step {step} is outside 1-{self.high - self.low}")
        return step


MINUTE = _Field("minute", 0, 59)
HOUR = _Field("hour", 0, 23)
DAY_OF_MONTH = _Field("day-of-month", 1, 31)
MONTH = _Field(
    "month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
)
# Cron's weekdays: 0-6 from Sunday, and 7 for Sunday again; a step runs up to 6, as croniter's does.
DAY_OF_WEEK = _Field("day-of-week", 0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))


def _refuse(reason: str) -> InvalidInput:
    return InvalidInput(f"EventBridge Scheduler cannot run this cron: {reason}", field="cron")


def to_eventbridge(cron: str) -> str:
    """The ``cron(...)`` schedule expression EventBridge Scheduler fires at ``cron``'s ticks.

    Raises InvalidInput (field ``cron``) for what EventBridge cannot express.
    """
    fields = cron.split()
    if len(fields) != 5:
        raise InvalidInput(f"{cron!r} is not a five-field cron expression", field="cron")
    minute, hour, dom, month, dow = fields
    dom_any, dow_any = dom in _ANY, dow in _ANY
    if not dom_any and not dow_any:
        raise _refuse(
            f"day-of-month {dom!r} and day-of-week {dow!r} are both restricted (cron fires when either "
            "matches; EventBridge needs one of them to be '?'); use two schedules"
        )
    if dom_any and not dow_any:
        day_of_month, day_of_week = "?", _day_of_week(dow)
    else:
        day_of_month, day_of_week = _day_of_month(dom), "?"
    six = (_plain(MINUTE, minute), _plain(HOUR, hour), day_of_month, _plain(MONTH, month), day_of_week, "*")
    expression = f"cron({' '.join(six)})"
    if len(expression) > MAX_EXPRESSION:
        raise _refuse(f"spelled out for EventBridge it is longer than {MAX_EXPRESSION} characters")
    return expression


def _plain(field: _Field, text: str) -> str:
    """A minute, hour, day-of-month or month field in EventBridge's spelling."""
    rendered: list[str] = []
    for part in text.split(","):
        match = _PART.match(part)
        if match is None:
            raise _refuse(f"{field.label} {part!r} is not a value, range or step")
        start, end, step = match.group("start", "end", "step")
        if start == "*" and end is None and step is None:
            return "*"  # everything, whatever else the list names
        if start == "*":
            if end is not None:
                raise _refuse(f"{field.label} {part!r} is not a value, range or step")
            rendered.append(f"{field.low}/{field.step(step)}")
        elif end is None:
            rendered.append(f"{field.value(start)}/{field.step(step)}" if step else _spelled(field, start))
        elif (step is None or field.step(step) == 1) and field.value(start) <= field.value(end):
            rendered.append(f"{_spelled(field, start)}-{_spelled(field, end)}")
        else:  # a stepped or a wrapping range: EventBridge gets the values themselves
            rendered.extend(str(v) for v in _range(field, start, end, step))
    return ",".join(rendered)


def _spelled(field: _Field, token: str) -> str:
    """``token`` validated, as EventBridge reads it (names upper case)."""
    field.value(token)
    return token.upper()


def _range(field: _Field, start: str, end: str, step: str | None) -> list[int]:
    """The values of ``start-end[/step]``; a range that wraps (``22-2``) has no step."""
    first, last = field.value(start), field.value(end)
    if first <= last:
        return list(range(first, last + 1, field.step(step) if step else 1))
    if step is not None:
        raise _refuse(f"{field.label} range {start}-{end} wraps around and has a step")
    return [*range(first, field.high + 1), *range(field.low, last + 1)]


def _day_of_month(text: str) -> str:
    if text.upper() == "L":
        return "L"
    if (nearest := _NEAREST_WEEKDAY.match(text)) is not None:
        return f"{DAY_OF_MONTH.value(nearest.group('day'))}W"
    if "L" in text.upper() or "W" in text.upper():
        raise _refuse(f"day-of-month {text!r}: L and W must stand alone in the field")
    return _plain(DAY_OF_MONTH, text)


def _day_of_week(text: str) -> str:
    """A restricted day-of-week field, Sunday=1."""
    if (nth := _NTH_WEEKDAY.match(text)) is not None:
        day = nth.group("day")
        number = DAY_OF_WEEK.value(day)
        return f"{day.upper() if day.isalpha() else _sunday_one(number)}#{nth.group('nth')}"
    if "#" in text or "L" in text.upper():
        raise _refuse(f"day-of-week {text!r}: only one 'day#n', or plain days, ranges and steps")
    parts = text.split(",")
    if all(_names_only(part) for part in parts):
        return text.upper()
    days: set[int] = set()
    for part in parts:
        days.update(_weekdays(part))
    return _listed(sorted(_sunday_one(day) for day in days))


def _names_only(part: str) -> bool:
    """A day name or a non-wrapping range of day names, which EventBridge reads as cron does."""
    match = _PART.match(part)
    if match is None or match.group("step") is not None:
        return False
    start, end = match.group("start", "end")
    if not start.isalpha() or (end is not None and not end.isalpha()):
        return False
    first = DAY_OF_WEEK.value(start)  # refuses an unknown name
    return end is None or first <= DAY_OF_WEEK.value(end)


def _weekdays(part: str) -> set[int]:
    """The days (0=Sunday .. 6) one part of a cron day-of-week field names."""
    match = _PART.match(part)
    if match is None:
        raise _refuse(f"day-of-week {part!r} is not a day, range or step")
    start, end, step = match.group("start", "end", "step")
    if start == "*":
        if end is not None:
            raise _refuse(f"day-of-week {part!r} is not a day, range or step")
        values = list(range(0, 7, DAY_OF_WEEK.step(step) if step else 1))
    elif end is None:
        first = DAY_OF_WEEK.value(start)
        values = list(range(first % 7, 7, DAY_OF_WEEK.step(step))) if step else [first]
    else:
        values = _range(DAY_OF_WEEK, start, end, step)
    return {day % 7 for day in values}


def _sunday_one(day: int) -> int:
    """Cron's Sunday-based 0-7 (0 and 7 both Sunday) as EventBridge's 1-7 (SUN=1)."""
    return day % 7 + 1


def _listed(days: list[int]) -> str:
    """Sorted EventBridge weekdays: one value, one range when they run on, else a list."""
    if len(days) > 1 and days == list(range(days[0], days[-1] + 1)):
        return f"{days[0]}-{days[-1]}"
    return ",".join(str(day) for day in days)
