"""Bounds on what one request may carry (documented in the README's "Limits").

Every refusal is a 4xx that names the field; nothing is stored. The bounds exist so that
one request cannot take the server down for everyone else: a body is never read past
``MAX_BODY_BYTES``, no parser recurses past ``MAX_DEPTH`` (Python's own parsers and
pydantic would raise ``RecursionError`` near 1,000 levels), a YAML alias never expands
into more than ``MAX_YAML_NODES`` nodes, and the lists and mappings a run carries into
the store and the job's process have documented sizes.

The ASGI adapter of the local server enforces each route's ``body_limit`` while reading
(413 without reading the rest); on Lambda, API Gateway hands over the whole body and
``load_body`` (the resolver's JSON body deserializer) checks size and depth before
``json.loads`` sees it. The same depth scan (``check_json_text_depth``) serves the
local adapter and queue config text.

This module imports nothing of launchq but its errors, so the domain models, the YAML
loader and the API can all take their numbers from here.
"""

from __future__ import annotations

import json
import re
from typing import Any

from launchq.errors import InvalidInput, PayloadTooLarge

MAX_BODY_BYTES = 1024 * 1024
"""The largest request body accepted (1 MiB) on every route but ``POST /code``; past it, 413."""

MAX_CODE_BODY_BYTES = 6 * 1024 * 1024
"""The largest ``POST /code`` body (6 MiB: base64 of a ~4.5 MB archive). It is Lambda's own
cap on a synchronous request, so the same uploads work on AWS and locally; a larger source
goes in as a git ``uri``."""

_ROUTE_BODY_BYTES = {("POST", "/code"): MAX_CODE_BODY_BYTES}

MAX_DEPTH = 64
"""How deeply JSON/YAML objects and lists may nest, in a body or a config text."""

MAX_CONFIG_BYTES = 256 * 1024
"""A queue ``config``, a run's ``resource_args`` or ``template_variables``, serialized as JSON."""

MAX_DOCUMENT_BYTES = 256 * 1024
"""The largest YAML or JSON config document (queue config text, ``-c`` files, launch-config.yaml)."""

MAX_YAML_ALIASES = 100
"""``*alias`` references in one YAML document; W&B users' configs use a handful."""

MAX_YAML_NODES = 20_000
"""Nodes of one YAML document with every alias expanded (refuses "billion laughs")."""

MAX_ENV_ENTRIES = 256
"""Environment variables in a run's ``env``."""

MAX_ENV_NAME_CHARS = 256
"""Characters in an environment variable's name."""

MAX_STRING_CHARS = 32 * 1024
"""Characters in one ``env`` value, one ``args``/``entry_point`` item or one template variable value."""

MAX_ARGS = 1024
"""Items in a run's ``args`` and in its ``entry_point``."""

MAX_TEMPLATE_VARIABLES = 256
"""Template variables a queue declares or a run sets."""

MAX_URI_CHARS = 4096
"""Characters in a run's ``uri`` (a git URL, a directory or a ``code://`` reference)."""

MAX_REF_CHARS = 512
"""Characters in ``git_version``, ``docker_image`` and ``dockerfile``."""

# A JSON string: a quote, then runs of ordinary characters or escapes, then a quote.
# Possessive quantifiers keep a hostile string (say, a megabyte of backslashes) linear.
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")


def _too_deep(field: str) -> InvalidInput:
    return InvalidInput(f"nested more than {MAX_DEPTH} levels deep", field=field)


def check_json_text_depth(text: str, field: str = "body") -> None:
    """Refuse JSON text that nests objects/lists deeper than ``MAX_DEPTH``, without parsing it.

    One linear pass over the brackets outside strings: cheap enough for every request, and
    safe where ``json.loads`` would exhaust the stack. Malformed text is left to the parser.
    Raises InvalidInput naming ``field``.
    """
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    depth = 0
    for char in brackets:
        depth += 1 if char in "[{" else -1
        if depth > MAX_DEPTH:
            raise _too_deep(field)


def body_limit(method: str, path: str) -> int:
    """The largest body ``method path`` accepts, in bytes."""
    return _ROUTE_BODY_BYTES.get((method.upper(), path.rstrip("/") or "/"), MAX_BODY_BYTES)


def check_body_size(size: int, limit: int, field: str = "body") -> None:
    """Raises PayloadTooLarge (413) when ``size`` bytes exceed ``limit``."""
    if size > limit:
        raise PayloadTooLarge(f"the request body is {size} bytes; the limit is {limit} bytes", field=field)


def document_size_problem(text: str) -> str | None:
    """Why a config document is too long to parse (``MAX_DOCUMENT_BYTES``), or None."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DOCUMENT_BYTES:
        return f"the document is {size} bytes; the limit is {MAX_DOCUMENT_BYTES} bytes"
    return None


def load_body(text: str) -> Any:
    """The API's JSON body deserializer: size and depth bounded before ``json.loads``.

    Registered on the Powertools resolver (``json_body_deserializer=load_body``), so it
    runs on Lambda and locally alike before validation; the LaunchqErrors it raises are
    mapped by the one error table. Malformed JSON still raises ``json.JSONDecodeError``,
    which Powertools turns into a validation error for the ``body``. The deserializer does
    not know the route, so it bounds every body by the largest route limit; the local
    adapter applies each route's own while reading, and the models bound every field.
    """
    if len(text) > MAX_CODE_BODY_BYTES // 4:  # below that, even 4-byte characters cannot reach it
        check_body_size(len(text.encode("utf-8", "surrogatepass")), MAX_CODE_BODY_BYTES)
    check_json_text_depth(text)
    return json.loads(text)


def too_deep(value: object) -> bool:
    """Whether a parsed value nests containers deeper than ``MAX_DEPTH`` (iterative: never recurses)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def json_bound_problem(value: object, max_bytes: int = MAX_CONFIG_BYTES) -> str | None:
    """Why a JSON-able value is past the bounds (too deep, or longer than ``max_bytes`` as
    JSON), or None when it is within them. For validators, which phrase the error."""
    if too_deep(value):
        return f"nested more than {MAX_DEPTH} levels deep"
    size = len(json.dumps(value, separators=(",", ":"), default=str).encode())
    if size > max_bytes:
        return f"is {size} bytes as JSON; the limit is {max_bytes} bytes"
    return None
