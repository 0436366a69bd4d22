"""Copies of runs that share nothing mutable: what the SQLite store hands out (``detached``).

The store keeps one parse per run body (``sqlite_rows.ParseCache``) and hands out copies
of it, so a caller changing the run it got changes nothing stored (the store contract).
``copy.deepcopy`` and pydantic's ``model_copy(deep=True)`` spend most of their time
copying immutable leaves (timestamps, strings, enums) and walking every field. Here each
model class gets a copier per field, worked out once from the field's annotation:

- an immutable type (``str``, ``int``, ``datetime``, enums, ``Literal``, and unions of
  them) is shared;
- ``list[str]``, ``dict[str, str]`` and the like (containers of immutables) get a shallow
  ``.copy()``: a C call, where a generic copy visits every item;
- a nested model gets its own class's copier; ``X | None`` the copier of ``X``;
- anything else (``dict[str, Any]``: JSON) a recursive copy of its containers.

The annotation is trusted because every run the store holds was validated (parsed from
its body, or built by pydantic before ``add_run``).

Each model class's copy is one function compiled from that plan (``_compiled``), the way
``dataclasses`` writes a class's ``__init__``: a field's copy is a line of its own, a
nested model's class is called directly, and the step into pydantic's extra and private
values is left out for a class that has neither. That is a third less than walking the
plan in a loop (a handout costs ~3.7 us, from ~5.6 us); the SQLite store makes four such
copies in a run's life.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from types import UnionType
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel

#: Types whose values are never changed in place: shared, not copied. Grows by their
#: subclasses (RunState, Priority, ...) as they are met.
_IMMUTABLE: set[type] = {str, int, float, bool, type(None), datetime}
_IMMUTABLE_BASES = (str, int, float, datetime, Enum)
_Value = TypeVar("_Value")
_Model = TypeVar("_Model", bound=BaseModel)
Copier = Callable[[Any], Any]
_set = object.__setattr__


def _bare(annotation: object) -> object:
    """``annotation`` without ``Annotated[...]``'s metadata (constraints, validators)."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _immutable_type(annotation: object) -> bool:
    """Whether every value a field so annotated can hold is immutable (``X | None`` too)."""
    annotation = _bare(annotation)
    if get_origin(annotation) is Literal:
        return True
    if get_origin(annotation) in (Union, UnionType):
        return all(_immutable_type(arg) for arg in get_args(annotation))
    return annotation is type(None) or (
        isinstance(annotation, type) and issubclass(annotation, _IMMUTABLE_BASES)
    )


def _or_none(copier: Copier) -> Copier:
    return lambda value: None if value is None else copier(value)


def _copier(annotation: object) -> Copier | None:
    """How to copy a value of a field so annotated (None: immutable, shared as is)."""
    annotation = _bare(annotation)
    if _immutable_type(annotation):
        return None
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, UnionType):
        kinds = [arg for arg in args if arg is not type(None)]
        inner = _copier(kinds[0]) if len(kinds) == 1 else _copy
        return _copy if inner is None else _or_none(inner)
    if origin is list and len(args) == 1 and _immutable_type(args[0]):
        return list.copy
    if origin is dict and len(args) == 2 and _immutable_type(args[1]):  # keys are immutable
        return dict.copy
    return _copy  # a nested model too (``_compile`` calls its class's copy directly)


@functools.cache
def _copiers(model: type[BaseModel]) -> tuple[tuple[str, Copier], ...]:
    """The fields of ``model`` that may hold a container or a model, each with its copier.

    Worked out once per class, so a copy visits 4 of a run's 28 fields."""
    found = ((name, _copier(field.annotation)) for name, field in model.model_fields.items())
    return tuple((name, copier) for name, copier in found if copier is not None)


def detached(value: _Value, update: dict[str, object] | None = None) -> _Value:
    """A copy of ``value`` (a model, or JSON-like data) sharing no mutable part with it;
    ``update`` (values immutable, or owned by the caller alone) replaces fields of a model."""
    if isinstance(value, BaseModel):
        copied_model: _Value = _compiled(type(value))(value, update)
        return copied_model
    copied: _Value = _copy(value)
    return copied


def _model_class(annotation: object) -> type[BaseModel] | None:
    """The model class a field so annotated holds (``X`` or ``X | None``), if it is one."""
    annotation = _bare(annotation)
    if get_origin(annotation) in (Union, UnionType):
        kinds = [arg for arg in get_args(annotation) if arg is not type(None)]
        annotation = _bare(kinds[0]) if len(kinds) == 1 else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


@functools.cache
def _compiled(model: type[BaseModel]) -> Callable[[Any, dict[str, object] | None], Any]:
    """How to copy an instance of ``model``: what ``model_copy(update=...)`` makes (its
    extras and private values copied too), then each field ``_copiers`` names replaced by
    its copy, but those ``update`` replaces; written out field by field and compiled."""
    _COMPILING.add(model)
    try:
        return _compile(model)
    finally:
        _COMPILING.discard(model)


_COMPILING: set[type[BaseModel]] = set()


def _compile(model: type[BaseModel]) -> Callable[[Any, dict[str, object] | None], Any]:
    scope: dict[str, Any] = {"_new": object.__new__, "_set": _set, "_cls": model, "_copy": _copy}
    lines = [
        "def copy(value, update=None):",
        "    fields = value.__dict__.copy()",
        "    if update:",
        "        fields.update(update)",
        "        fields_set = value.__pydantic_fields_set__.union(update)",
        "        skip = update",
        "    else:",
        "        fields_set = set(value.__pydantic_fields_set__)",
        "        skip = ()",
    ]
    for index, (name, copier) in enumerate(_copiers(model)):
        nested = _model_class(model.model_fields[name].annotation)
        lines += [f"    if {name!r} not in skip:", f"        item = fields[{name!r}]"]
        if nested is None:
            scope[f"_c{index}"] = copier  # it takes None itself where the field may hold None
            lines.append(f"        fields[{name!r}] = _c{index}(item)")
        else:  # an instance of a subclass (pydantic keeps one as given) takes the generic copy
            scope[f"_t{index}"] = nested
            # a model nested in itself is looked up at the call (it is being compiled now)
            scope[f"_m{index}"] = _copy if nested in _COMPILING else _compiled(nested)
            lines += [
                "        if item is not None:",
                f"            fields[{name!r}] = (_m{index} if type(item) is _t{index} else _copy)(item)",
            ]
    lines += [
        "    copied = _new(_cls)",
        '    _set(copied, "__dict__", fields)',
        '    _set(copied, "__pydantic_fields_set__", fields_set)',
    ]
    if model.model_config.get("extra") == "allow" or model.__private_attributes__:
        lines.append("    _extras(value, copied)")
        scope["_extras"] = _copy_extras
    else:  # pydantic leaves both None in a model with neither
        lines += [
            '    _set(copied, "__pydantic_extra__", None)',
            '    _set(copied, "__pydantic_private__", None)',
        ]
    lines.append("    return copied")
    exec("\n".join(lines), scope)  # noqa: S102 (source built above from field names and constants)
    compiled: Callable[[Any, dict[str, object] | None], Any] = scope["copy"]
    return compiled


def _copy(value: Any) -> Any:
    """A copy of JSON-like data (or a model) whose containers are all new."""
    if isinstance(value, BaseModel):
        return _compiled(type(value))(value, None)
    if type(value) is dict:
        return {key: item if type(item) in _IMMUTABLE else _copy(item) for key, item in value.items()}
    if type(value) is list:
        return [item if type(item) in _IMMUTABLE else _copy(item) for item in value]
    if issubclass(type(value), _IMMUTABLE_BASES):
        _IMMUTABLE.add(type(value))
        return value
    return copy.deepcopy(value)


def shallow(value: _Model, update: dict[str, object]) -> _Model:
    """``value.model_copy(update=update)``: nested values shared with ``value``."""
    fields = value.__dict__.copy()
    fields.update(update)
    copied = object.__new__(type(value))
    _set(copied, "__dict__", fields)
    _set(copied, "__pydantic_fields_set__", value.__pydantic_fields_set__.union(update))
    _copy_extras(value, copied)
    return copied


def _copy_extras(value: BaseModel, copied: BaseModel) -> None:
    """``value``'s pydantic extra and private values, copied onto ``copied``."""
    extra, private = value.__pydantic_extra__, value.__pydantic_private__
    _set(copied, "__pydantic_extra__", None if extra is None else _copy(extra))
    _set(copied, "__pydantic_private__", None if private is None else _copy(private))
