"""Parsing a user's ``builder`` block (``resource_args.<resource>.builder``) into BuildOptions.

The models themselves live in :mod:`launchq.domain.build_options`, since a ``Run`` carries
them; they are re-exported here for the build code. The parser's errors name the offending
key and say what a valid value looks like.
"""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from launchq.domain.build_options import (
    DEFAULT_PLATFORM,
    IMAGE_REF_PATTERN,
    AcceleratorOptions,
    BuildOptions,
    ImageRef,
)
from launchq.errors import InvalidInput
from launchq.validation import error_message, invalid_input

__all__ = [
    "DEFAULT_PLATFORM",
    "IMAGE_REF_PATTERN",
    "AcceleratorOptions",
    "BuildOptions",
    "ImageRef",
    "parse_build_options",
]

_IMAGE_HINT = "must be an image reference such as python:3.11-slim or nvidia/cuda:12.4.1-runtime-ubuntu22.04"
_PATTERN_HINTS = {
    "base_image": _IMAGE_HINT,
    "python_version": "must be a Python 3 major.minor version, e.g. 3.11",
    "dockerfile": "must be a path without control characters",
}


def parse_build_options(raw: object, field: str) -> BuildOptions:
    """Validate ``raw`` (a ``builder`` mapping, or None for defaults) as BuildOptions.

    ``field`` is where ``raw`` sits, e.g. ``resource_args.sagemaker.builder``; the error
    names the first offending key under it (``...builder.accelerator.base_image``) and
    lists every problem. Raises InvalidInput.
    """
    if raw is None:
        return BuildOptions()
    if not isinstance(raw, dict):
        raise InvalidInput(f"must be a mapping, not {type(raw).__name__}", field=field)
    try:
        return BuildOptions.model_validate(raw)
    except ValidationError as exc:
        raise invalid_input(exc, field, message=_hinted) from None


def _hinted(error: ErrorDetails) -> str:
    """A pattern mismatch says what a valid value looks like, not the regular expression."""
    if error["type"] == "string_pattern_mismatch" and error["loc"]:
        return _PATTERN_HINTS.get(str(error["loc"][-1]), error_message(error))
    return error_message(error)
