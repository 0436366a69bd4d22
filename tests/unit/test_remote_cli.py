"""``launchq agent``: where the control plane's URL and the API key come from."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from launchq.cli.main import app
from launchq.remote.client import BearerAuth


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What ``run_agent`` was called with (nothing is started)."""
    import launchq.local.agent as agent_module

    for name in ("LAUNCHQ_URL", "LAUNCHQ_API_KEY", "LAUNCHQ_AUTH"):
        monkeypatch.delenv(name, raising=False)
    seen: dict[str, Any] = {}
    monkeypatch.setattr(agent_module, "run_agent", lambda **kwargs: seen.update(kwargs))
    return seen


def test_url_and_api_key_flags_make_a_remote_agent(started: dict[str, Any]) -> None:
    result = CliRunner().invoke(app, ["agent", "-q", "gpu", "--url", "http://127.0.0.1:9", "--api-key", "k"])
    assert result.exit_code == 0, result.output
    plane = started["control_plane"]
    assert plane.url == "http://127.0.0.1:9"
    assert isinstance(plane.auth, BearerAuth)


def test_the_environment_and_the_top_level_url_count_too(
    started: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    CliRunner().invoke(app, ["--url", "http://127.0.0.1:7", "agent", "-q", "gpu"])
    assert started.pop("control_plane").url == "http://127.0.0.1:7"
    monkeypatch.setenv("LAUNCHQ_URL", "http://127.0.0.1:8")
    CliRunner().invoke(app, ["agent", "-q", "gpu"])
    assert started["control_plane"].url == "http://127.0.0.1:8"
    assert started["control_plane"].auth is None


def test_without_a_url_the_agent_stays_on_its_own_store(started: dict[str, Any]) -> None:
    result = CliRunner().invoke(app, ["agent", "-q", "gpu"])
    assert result.exit_code == 0, result.output
    assert "control_plane" not in started
