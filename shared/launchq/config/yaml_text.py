"""Strict, safe and bounded YAML loading shared by queue configs, ``-c`` files and ``launch-config.yaml``.

Bounded because YAML's aliases let a document of a few hundred bytes stand for billions
of nodes ("billion laughs"): PyYAML shares the aliased objects, so loading is quick, but
everything after it (walking, rendering, ``json.dumps``) expands them and takes the
server's CPU and memory. The loader counts at compose time, before any Python object
exists: nesting depth, aliases, and the number of nodes with every alias expanded; a
recursive alias (``&a [*a]``, which JSON cannot hold) is refused as well.
"""

from __future__ import annotations

from typing import Any

import yaml

from launchq.api.limits import (
    MAX_DEPTH,
    MAX_YAML_ALIASES,
    MAX_YAML_NODES,
    document_size_problem,
)


class YamlLimitExceeded(yaml.MarkedYAMLError):
    """A well-formed document past one of the bounds in ``launchq.api.limits``."""


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys, keeps timestamps as strings and bounds size."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._expanded: dict[int, int] = {}  # id(node) -> its node count with aliases expanded

    def _refuse(self, problem: str) -> YamlLimitExceeded:
        return YamlLimitExceeded(problem=problem, problem_mark=self.peek_event().start_mark)

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise self._refuse(f"more than {MAX_YAML_ALIASES} aliases")
            mark = self.peek_event().start_mark
            alias = super().compose_node(parent, index)
            if id(alias) not in self._expanded:  # the anchor's node is still being composed
                raise YamlLimitExceeded(problem="an alias refers to a node containing it", problem_mark=mark)
            return alias
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise self._refuse(f"nested more than {MAX_DEPTH} levels deep")
        node = super().compose_node(parent, index)
        self._depth -= 1
        if node is None:  # pragma: no cover - the composer returns a node for every event
            return None
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        size = 1 + sum(self._expanded[id(child)] for child in children)
        if size > MAX_YAML_NODES:
            raise YamlLimitExceeded(
                problem=f"more than {MAX_YAML_NODES} values once aliases are expanded",
                problem_mark=node.start_mark,
            )
        self._expanded[id(node)] = size
        return node

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
    if isinstance(exc, YamlLimitExceeded):
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return f"YAML refused{where}: {exc.problem}"
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

    A document longer than ``MAX_DOCUMENT_BYTES``, nested deeper than ``MAX_DEPTH``, with more
    than ``MAX_YAML_ALIASES`` aliases or more than ``MAX_YAML_NODES`` expanded nodes raises
    ``YamlLimitExceeded``. Raises ``yaml.YAMLError``; callers turn it into ``InvalidInput``
    with ``describe_yaml_error``.
    """
    too_long = document_size_problem(text)
    if too_long:
        raise YamlLimitExceeded(problem=too_long)
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 -- _StrictLoader is a SafeLoader
