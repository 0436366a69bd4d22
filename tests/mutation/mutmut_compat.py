"""A pytest plugin loaded only under ``make mutation`` (see ``[tool.mutmut]`` in pyproject).

mutmut 3.7 reads ``item._nodeid`` when it records which tests reach which function;
pytest 9 keeps the id elsewhere and only offers the public ``item.nodeid``. mutmut 3.8
reads the public name but needs a newer click than the one aws-sam-cli pins, so until
the pins meet, this plugin restores the old attribute from the public one.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not hasattr(item, "_nodeid"):
            item._nodeid = item.nodeid  # type: ignore[attr-defined]
