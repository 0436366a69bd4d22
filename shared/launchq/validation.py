"""pydantic's ValidationError as launchq's InvalidInput, in one place.

Every boundary that validates user input with pydantic (a ``builder`` block, a target's
resource args, launch-config.yaml, a doorbell message, a schedule event) reports a
mistake the same way: the field is the dotted location of the first error under the
caller's prefix, the message is pydantic's without its ``Value error, `` prefix (our own
validators' words are the message), and any further errors follow as ``field: message``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import ErrorDetails, PydanticCustomError

from launchq.errors import InvalidInput

Problem = tuple[str, str]
"""One error as (field, message)."""


def error_message(error: ErrorDetails) -> str:
    """pydantic's message for ``error``; a ValueError raised by our validator speaks for itself."""
    return error["msg"].removeprefix("Value error, ")


def error_field(error: ErrorDetails, prefix: str = "", whole: str = "") -> str:
    """``prefix`` and the error's location, dotted; ``whole`` when both are empty (an error
    about the input as a whole, e.g. a body that is not JSON)."""
    parts = [prefix] if prefix else []
    parts.extend(str(part) for part in error["loc"])
    return ".".join(parts) or whole


def problems(
    exc: ValidationError,
    prefix: str = "",
    *,
    whole: str = "",
    describe: Callable[[ErrorDetails], Problem] | None = None,
) -> list[Problem]:
    """Every error of ``exc`` as (field, message), in pydantic's order; ``describe`` replaces
    the default (``error_field``, ``error_message``) for callers that explain more."""

    def default(error: ErrorDetails) -> Problem:
        return error_field(error, prefix, whole), error_message(error)

    return [(describe or default)(error) for error in exc.errors()]


def invalid_input(
    exc: ValidationError,
    prefix: str = "",
    *,
    whole: str = "",
    message: Callable[[ErrorDetails], str] = error_message,
) -> InvalidInput:
    """``exc`` as one InvalidInput naming its first error's field (see the module docstring).

    ``message`` words an error differently where the caller knows better (e.g. a hint for
    a pattern). Raise the result ``from None``: pydantic's traceback says nothing more.
    """
    found = problems(exc, prefix, whole=whole, describe=lambda e: (error_field(e, prefix, whole), message(e)))
    (field, detail), rest = found[0], found[1:]
    if rest:
        detail += "; " + "; ".join(f"{where}: {why}" for where, why in rest)
    return InvalidInput(detail, field=field or None)


_SHOWN_CHARS = 80


def pattern_in_words(rule: str) -> WrapValidator:
    """A validator for a string field with a ``pattern``: a value that does not match is told
    ``rule`` in words ("must be 1 to 63 characters: ...") instead of the regular expression,
    which stays in the JSON schema (OpenAPI, the SAM template's AllowedPattern)."""

    def in_words(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            if exc.errors()[0]["type"] != "string_pattern_mismatch":
                raise
            shown = repr(value) if len(value) <= _SHOWN_CHARS else repr(value[:_SHOWN_CHARS]) + "..."
            raise PydanticCustomError(
                "string_pattern_mismatch",
                "{value} is not allowed: use {rule}",
                {"value": shown, "rule": rule},
            ) from None

    return WrapValidator(in_words)


def all_or_none(given: dict[str, object], what: str) -> None:
    """Settings that only work together (``given``: each variable's name and value): all set,
    or none. Raises ValueError naming the missing ones, for a pydantic model validator."""
    missing = [name for name, value in given.items() if not value]
    if missing and len(missing) < len(given):
        names = list(given)
        everything = f"{', '.join(names[:-1])} and {names[-1]}"
        raise ValueError(f"{what} need all of {everything}, or none; missing: {', '.join(missing)}")
