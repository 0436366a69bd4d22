"""Rendering the agent's Helm chart in tests, as `helm install -n NAMESPACE` would (Helm v4's own
engine, embedded by helm-python-sdk), and picking objects out of the result. Shared by the chart's
test modules so that each renders the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from helm_python.chart import Chart

from tests.unit.k8s_checks import documents

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "infra" / "helm" / "launchq-agent"
RELEASE = "launchq-agent"


def values_file(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def render(chart: Chart, values: dict[str, Any] | None = None, namespace: str = "launchq") -> dict[str, str]:
    """Template file name -> rendered text, as `helm install -n NAMESPACE` would produce."""
    out = chart.render(values, name=RELEASE, namespace=namespace, is_install=True)
    return {Path(path).name: text for path, text in out.items()}


def objects(rendered: dict[str, str]) -> list[dict[str, Any]]:
    return [obj for name, text in rendered.items() if name.endswith(".yaml") for obj in documents(text)]


def by_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objs if obj["kind"] == kind]


def deployment(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = by_kind(objs, "Deployment")
    return found
