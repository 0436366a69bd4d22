"""launchq's five-field cron as EventBridge Scheduler's six-field ``cron()``.

Besides the exact spelling, every convertible cron is checked for meaning: the values
each EventBridge field names (decoded here by EventBridge's rules, Sunday=1) must be the
ones croniter -- which fires the reconciler's ticks -- expands the cron field to.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from croniter import croniter

from launchq.adapters.schedulers.cron import MAX_EXPRESSION, to_eventbridge
from launchq.errors import InvalidInput

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # EventBridge: SUN=1 .. SAT=7

CONVERSIONS = [
    # minutes and hours: values, ranges and lists pass; */n starts at the field's first value
    ("* * * * *", "cron(* * * * ? *)"),
    ("0 * * * *", "cron(0 * * * ? *)"),
    ("30 9 * * *", "cron(30 9 * * ? *)"),
    ("*/15 * * * *", "cron(0/15 * * * ? *)"),
    ("5/20 */6 * * *", "cron(5/20 0/6 * * ? *)"),
    ("0,30 8-18 * * *", "cron(0,30 8-18 * * ? *)"),
    ("10-40/10 * * * *", "cron(10,20,30,40 * * * ? *)"),
    ("0-30/1 * * * *", "cron(0-30 * * * ? *)"),
    ("0 22-2 * * *", "cron(0 22,23,0,1,2 * * ? *)"),
    ("*,5 * * * *", "cron(* * * * ? *)"),
    # day-of-month restricted: day-of-week becomes '?'
    ("0 0 1 * *", "cron(0 0 1 * ? *)"),
    ("0 0 1,15 * *", "cron(0 0 1,15 * ? *)"),
    ("0 0 */2 * *", "cron(0 0 1/2 * ? *)"),
    ("0 0 L * *", "cron(0 0 L * ? *)"),
    ("0 0 15W * *", "cron(0 0 15W * ? *)"),
    ("0 0 1 * ?", "cron(0 0 1 * ? *)"),
    # months: numbers and names kept, steps from January, wrapping ranges listed
    ("0 0 1 JAN-MAR *", "cron(0 0 1 JAN-MAR ? *)"),
    ("0 0 1 jan,jul *", "cron(0 0 1 JAN,JUL ? *)"),
    ("0 0 1 */3 *", "cron(0 0 1 1/3 ? *)"),
    ("0 0 1 NOV-FEB *", "cron(0 0 1 11,12,1,2 ? *)"),
    # day-of-week restricted: day-of-month becomes '?', numbers shift to Sunday=1, names kept
    ("0 9 * * 1-5", "cron(0 9 ? * 2-6 *)"),
    ("0 9 * * mon-fri", "cron(0 9 ? * MON-FRI *)"),
    ("0 9 * * SAT,SUN", "cron(0 9 ? * SAT,SUN *)"),
    ("0 9 * * 0", "cron(0 9 ? * 1 *)"),
    ("0 9 * * 7", "cron(0 9 ? * 1 *)"),
    ("0 9 * * 6", "cron(0 9 ? * 7 *)"),
    ("0 9 * * 0,6", "cron(0 9 ? * 1,7 *)"),
    ("0 9 * * 0-6", "cron(0 9 ? * 1-7 *)"),
    ("0 9 * * 5-7", "cron(0 9 ? * 1,6,7 *)"),
    ("0 9 * * 5-1", "cron(0 9 ? * 1,2,6,7 *)"),
    ("0 9 * * 7-1", "cron(0 9 ? * 1-2 *)"),
    ("0 9 * * */2", "cron(0 9 ? * 1,3,5,7 *)"),
    ("0 9 * * 1/2", "cron(0 9 ? * 2,4,6 *)"),
    ("0 9 * * 1-5/2", "cron(0 9 ? * 2,4,6 *)"),
    ("0 9 * * SUN-SAT/3", "cron(0 9 ? * 1,4,7 *)"),
    ("0 9 * * MON,3", "cron(0 9 ? * 2,4 *)"),
    ("0 9 * * FRI-MON", "cron(0 9 ? * 1,2,6,7 *)"),
    ("0 9 ? * 3", "cron(0 9 ? * 4 *)"),
    # the n-th weekday of the month
    ("0 9 * * 1#2", "cron(0 9 ? * 2#2 *)"),
    ("0 9 * * 0#1", "cron(0 9 ? * 1#1 *)"),
    ("0 9 * * fri#3", "cron(0 9 ? * FRI#3 *)"),
]


@pytest.mark.parametrize(("cron", "expected"), CONVERSIONS)
def test_a_cron_is_spelled_as_eventbridge_reads_it(cron: str, expected: str) -> None:
    # GIVEN a five-field cron croniter accepts
    croniter(cron)
    # WHEN it is converted
    converted = to_eventbridge(cron)
    # THEN it is EventBridge's six-field form, every year, exactly as expected
    assert converted == expected


def _eventbridge_values(text: str, low: int, high: int, names: tuple[str, ...] = ()) -> set[int]:
    """The values an EventBridge field names (``*``, values, ranges, ``a/n``; names from ``low``)."""

    def value(token: str) -> int:
        return low + names.index(token) if token in names else int(token)

    values: set[int] = set()
    for part in text.split(","):
        if part == "*":
            values.update(range(low, high + 1))
        elif "/" in part:
            start, step = part.split("/")
            values.update(range(value(start), high + 1, int(step)))
        elif "-" in part:
            first, last = part.split("-")
            assert value(first) <= value(last), f"EventBridge ranges do not wrap: {part}"
            values.update(range(value(first), value(last) + 1))
        else:
            values.add(value(part))
    return values


def _croniter_values(field: Sequence[int | str], low: int, high: int) -> set[int]:
    return set(range(low, high + 1)) if "*" in field else {int(v) for v in field}


@pytest.mark.parametrize(
    "cron", [c for c, _ in CONVERSIONS if not any(mark in c for mark in ("L", "W", "#"))]
)
def test_eventbridge_fires_on_the_same_values_croniter_does(cron: str) -> None:
    # GIVEN a convertible cron, and croniter's expansion of it (what the reconciler fires)
    minute, hour, dom, month, dow = croniter(cron).expanded
    # WHEN it is converted
    fields = to_eventbridge(cron).removeprefix("cron(").removesuffix(")").split()
    # THEN each EventBridge field names the same minutes, hours, days, months and weekdays
    assert len(fields) == 6
    assert fields[5] == "*"
    assert _eventbridge_values(fields[0], 0, 59) == _croniter_values(minute, 0, 59)
    assert _eventbridge_values(fields[1], 0, 23) == _croniter_values(hour, 0, 23)
    assert _eventbridge_values(fields[3], 1, 12, MONTHS) == _croniter_values(month, 1, 12)
    assert "?" in (fields[2], fields[4])
    if fields[2] != "?":
        assert _eventbridge_values(fields[2], 1, 31) == _croniter_values(dom, 1, 31)
        assert dow == ["*"]
    else:
        weekdays = {day - 1 for day in _eventbridge_values(fields[4], 1, 7, WEEKDAYS)}  # back to SUN=0
        assert weekdays == _croniter_values(dow, 0, 6)
        assert dom == ["*"]


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("0 9 1 * 1", "both restricted"),
        ("0 9 1-7 * MON", "both restricted"),
        ("0 9 L * 5", "both restricted"),
        ("0 9 * * 5L", "day-of-week '5L'"),
        ("0 9 * * 1#1,5", "day-of-week '1#1,5'"),
        ("0 9 1,L * *", "must stand alone"),
        ("0 9 LW * *", "must stand alone"),
        ("H * * * *", "minute 'H' is not a value"),
        ("60 * * * *", "minute 60 is outside 0-59"),
        ("0 24 * * *", "hour 24 is outside 0-23"),
        ("0 0 0 * *", "day-of-month 0 is outside 1-31"),
        ("0 0 1 13 *", "month 13 is outside 1-12"),
        ("0 0 1 FOO *", "'FOO' is not a month value"),
        ("0 0 * * 8", "day-of-week 8 is outside 0-7"),
        ("0 0 * * FOO", "'FOO' is not a day-of-week value"),
        ("*/0 * * * *", "minute step 0"),
        ("*/60 * * * *", "minute step 60"),
        ("0 22-2/2 * * *", "wraps around and has a step"),
        ("*-5 * * * *", "minute '*-5'"),
        ("0 0 * * 1 *", "not a five-field cron"),
        ("0 0 * *", "not a five-field cron"),
    ],
)
def test_what_eventbridge_cannot_express_is_refused_with_the_reason(cron: str, reason: str) -> None:
    # GIVEN a cron EventBridge cannot run as it is written
    # WHEN it is converted
    with pytest.raises(InvalidInput) as refused:
        to_eventbridge(cron)
    # THEN it is refused as the user's cron, naming why
    assert refused.value.field == "cron"
    assert reason in refused.value.detail


def test_a_cron_longer_than_eventbridge_allows_once_spelled_out_is_refused() -> None:
    # GIVEN a cron whose wrapping ranges expand to long lists
    cron = "59-58 23-22 31-30 * *"
    assert len(cron) < MAX_EXPRESSION
    # WHEN it is converted
    with pytest.raises(InvalidInput) as refused:
        to_eventbridge(cron)
    # THEN it is refused for its length
    assert f"longer than {MAX_EXPRESSION}" in refused.value.detail
