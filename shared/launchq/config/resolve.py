"""Config resolution: a queue's config template plus a run's values and overrides.

At queue create/patch, ``check_queue_settings`` makes sure every ``{{ placeholder }}`` is
declared and every ``${macro}`` is known. At enqueue time, ``resolve_resource_args``
checks the run's template-variable values against the queue's schema, renders the queue
config, deep-merges the run's ``resource_args`` over it (only where the queue allows
overrides; a key for another resource is refused, never dropped) and checks macros. The
macros themselves are substituted later, at submit time, when the image is known
(``substitute_macros``).

The building blocks live in ``templates`` and ``macros`` and are re-exported here.
"""

from __future__ import annotations

from typing import Any

from launchq.config.macros import MACROS, MacroValues, check_macros, substitute_macros
from launchq.config.templates import deep_merge, parse_config_text, placeholders, render, unwrap_resource
from launchq.domain.models import Queue, QueueSettings, RunSpec
from launchq.domain.template_vars import check_values
from launchq.errors import InvalidInput

__all__ = [
    "MACROS",
    "MacroValues",
    "check_macros",
    "check_queue_settings",
    "deep_merge",
    "parse_config_text",
    "placeholders",
    "render",
    "resolve_resource_args",
    "substitute_macros",
    "unwrap_resource",
]


def check_queue_settings(settings: QueueSettings) -> None:
    """Every placeholder in the config is a declared template variable; every macro is known."""
    undeclared = sorted(placeholders(settings.config) - set(settings.template_variables))
    if undeclared:
        declared = sorted(settings.template_variables) or "none"
        raise InvalidInput(
            f"placeholder '{{{{{undeclared[0]}}}}}' is not declared in template_variables "
            f"(declared: {declared})",
            field="config",
        )
    check_macros(settings.config, "config")


#: Keys that reach into the server (its secrets, its environment): a run may not override them.
_QUEUE_ONLY = ("secrets", "inherit_env")


def _overrides(queue: Queue, resource_args: dict[str, Any]) -> dict[str, Any]:
    """The run's overrides for the queue's resource; other resources and forbidden overrides refused."""
    for key in resource_args:
        if key != queue.resource:
            raise InvalidInput(
                f"queue '{queue.name}' targets '{queue.resource}'; "
                f"put overrides under resource_args.{queue.resource}",
                field=f"resource_args.{key}",
            )
    override = resource_args.get(queue.resource, {})
    if not isinstance(override, dict):
        raise InvalidInput(
            f"must be a mapping, got a {type(override).__name__}", field=f"resource_args.{queue.resource}"
        )
    for key in _QUEUE_ONLY:  # a submitter must not pick what of the server its job reads
        if key in override:
            raise InvalidInput(
                f"{key} comes from the queue's config only; ask the queue's owner to name it there",
                field=f"resource_args.{queue.resource}.{key}",
            )
    if override and not queue.allow_overrides:
        raise InvalidInput(
            f"queue '{queue.name}' does not allow resource_args overrides", field="resource_args"
        )
    return override


def resolve_resource_args(queue: Queue, spec: RunSpec) -> dict[str, Any]:
    """The run's resource args at enqueue time (macros checked, not yet substituted)."""
    values = check_values(queue.template_variables, spec.template_variables)
    override = _overrides(queue, spec.resource_args)
    base = render(unwrap_resource(queue.config, queue.resource), values)
    resolved = deep_merge(base, override)
    check_macros(resolved, "resource_args")
    return resolved
