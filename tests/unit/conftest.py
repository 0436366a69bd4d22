"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.cli_fake_server import FakeApi


@pytest.fixture
def fake() -> Iterator[FakeApi]:
    """A real HTTP server on loopback that records requests and answers canned JSON."""
    with FakeApi() as api:
        yield api
