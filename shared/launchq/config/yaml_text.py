"""Strict, safe YAML loading shared by queue configs and ``launch-config.yaml``."""

from __future__ import annotations

from typing import Any

import yaml


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys and keeps timestamps as strings."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# Dates stay the strings the user wrote: configs are JSON objects and must stay serialisable.
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def describe_yaml_error(exc: yaml.YAMLError) -> str:
    """A one-line description of a YAML error with its 1-based line and column."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if "'\\t'" in problem:
            problem += " (YAML does not allow tabs for indentation; use spaces)"
        if mark is not None:
            return f"malformed YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
        return f"malformed YAML: {problem}"
    return f"malformed YAML: {exc}"


def safe_yaml_load(text: str) -> Any:
    """Parse YAML safely; duplicate keys are an error and timestamps stay strings.

    Raises ``yaml.YAMLError``; callers turn it into ``InvalidInput`` with ``describe_yaml_error``.
    """
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 -- _StrictLoader is a SafeLoader
