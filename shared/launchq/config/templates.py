"""Queue config templates: parsing config text, ``{{ name }}`` placeholders, rendering, merging.

A queue's config is JSON or YAML text (as in W&B's "Configuration" field) holding a mapping.
Placeholders ``{{ name }}`` may appear in string values and in keys; ``render`` replaces them
with a run's checked template-variable values. A string that is exactly one placeholder
takes the value with its type (``"{{ gpus }}"`` -> ``2``); inside a longer string the value
is formatted with ``str()``. ``deep_merge`` lays a run's overrides over the rendered config.

Every function here returns new structures and never mutates its inputs.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import yaml

from launchq.api.limits import check_json_text_depth, document_size_problem
from launchq.config.yaml_text import describe_yaml_error, safe_yaml_load
from launchq.errors import InvalidInput

if TYPE_CHECKING:  # (a type only: the module brings pydantic, which the CLI's -c needs not)
    from launchq.domain.template_vars import Scalar

PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def _check_json_compatible(obj: object, field: str, path: str = "") -> None:
    """Configs are stored as JSON: keys must be strings, leaves JSON scalars."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                where = f" at {path}" if path else ""
                raise InvalidInput(
                    f"key {key!r}{where} is not a string; quote it (YAML reads yes/no/on/off as booleans)",
                    field=field,
                )
            _check_json_compatible(value, field, f"{path}.{key}" if path else key)
    elif isinstance(obj, list):
        for index, item in enumerate(obj):
            _check_json_compatible(item, field, f"{path}[{index}]")
    elif obj is not None and not isinstance(obj, str | int | float | bool):
        raise InvalidInput(f"value at {path or 'top level'} is a {type(obj).__name__}; quote it", field=field)


def _looks_like_json(text: str) -> bool:
    return text.lstrip().startswith(("{", "["))


def _parse_json(text: str, field: str) -> object:
    too_long = document_size_problem(text)
    if too_long:
        raise InvalidInput(too_long, field=field)
    check_json_text_depth(text, field)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKeyError as exc:
        raise InvalidInput(f"duplicate key '{exc}'", field=field) from exc
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg} "
            "(text starting with '{' or '[' is read as JSON)",
            field=field,
        ) from exc


Syntax = Literal["auto", "json", "yaml"]


def parse_config_text(text: str, field: str = "config", syntax: Syntax = "auto") -> dict[str, Any]:
    """Parse JSON or YAML text into a mapping; errors carry the parser's line and column.

    This is the one config loader: the API uses it for config text and the CLI for its
    ``--config``/``-c``/``-R`` values and files, so both accept and refuse the same documents.
    With ``syntax="auto"``, text whose first character is ``{`` or ``[`` is JSON (a broken
    JSON document must not quietly become a different YAML one: ``{"a": }`` is
    ``{"a": null}`` to YAML); anything else is YAML. A file says which it is by its suffix
    (``syntax="json"``/``"yaml"``). Empty text is an empty mapping. Duplicate keys, a
    document that is not a mapping, values JSON cannot hold and documents past the bounds
    of ``launchq.api.limits`` are refused with ``InvalidInput(field=field)``.
    """
    as_json = syntax == "json" or (syntax == "auto" and _looks_like_json(text))
    try:
        data = _parse_json(text, field) if as_json else safe_yaml_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(describe_yaml_error(exc), field=field) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput(
            f"must be a mapping (JSON object or YAML mapping), got a {type(data).__name__}", field=field
        )
    _check_json_compatible(data, field)
    return data


def map_strings(
    obj: Any,
    on_value: Callable[[str, str], Any],
    on_key: Callable[[str, str], str],
    field: str,
    path: str = "",
) -> Any:
    """Rebuild ``obj`` with every string value passed through ``on_value(s, path)`` and every
    key through ``on_key(key, path)``. Two keys of one mapping that become equal are refused."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            here = f"{path}.{key}" if path else str(key)
            new_key = on_key(key, here) if isinstance(key, str) else key
            if new_key in out:
                raise InvalidInput(f"two keys at {path or 'top level'} both become {new_key!r}", field=field)
            out[new_key] = map_strings(value, on_value, on_key, field, here)
        return out
    if isinstance(obj, list):
        return [map_strings(item, on_value, on_key, field, f"{path}[{i}]") for i, item in enumerate(obj)]
    if isinstance(obj, str):
        return on_value(obj, path)
    return copy.deepcopy(obj)


def iter_strings(obj: Any, path: str = "") -> list[tuple[str, str]]:
    """Every (path, string) in ``obj``: string values and mapping keys, depth first."""
    found: list[tuple[str, str]] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str):
                found.append((here, key))
            found.extend(iter_strings(value, here))
    elif isinstance(obj, list):
        for index, item in enumerate(obj):
            found.extend(iter_strings(item, f"{path}[{index}]"))
    elif isinstance(obj, str):
        found.append((path, obj))
    return found


def placeholders(obj: Any) -> set[str]:
    """Names of every ``{{ name }}`` in the string values and keys of ``obj``."""
    return {match.group(1) for _, text in iter_strings(obj) for match in PLACEHOLDER.finditer(text)}


def render(config: dict[str, Any], values: dict[str, Scalar], field: str = "config") -> dict[str, Any]:
    """Replace placeholders with ``values``; a lone placeholder keeps the value's type."""

    def lookup(name: str, path: str) -> Scalar:
        if name not in values:
            where = f" at {path}" if path else ""
            raise InvalidInput(f"template variable '{name}'{where} has no value", field=field)
        return values[name]

    def on_value(text: str, path: str) -> Any:
        whole = PLACEHOLDER.fullmatch(text)
        if whole:
            return lookup(whole.group(1), path)
        return PLACEHOLDER.sub(lambda match: str(lookup(match.group(1), path)), text)

    def on_key(key: str, path: str) -> str:
        return PLACEHOLDER.sub(lambda match: str(lookup(match.group(1), path)), key)

    rendered: dict[str, Any] = map_strings(config, on_value, on_key, field)
    return rendered


def unwrap_resource(config: dict[str, Any], resource: str) -> dict[str, Any]:
    """``{"kubernetes": {...}}`` on a kubernetes queue is the inner mapping (W&B's spelling)."""
    if list(config) == [resource] and isinstance(config[resource], dict):
        inner: dict[str, Any] = config[resource]
        return inner
    return config


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge recursively; anything else in ``override`` (lists too) replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
