"""The Kubernetes API stand-in's objects: what it serves, how it refuses, selectors and patches.

Shared by the stand-in's state (``kube_stand_in``) and its HTTP front (``kube_stand_in_http``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import kubernetes_validate

K8S_VERSION = "1.31"
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# (group, version) -> [(plural, kind, namespaced)]
RESOURCES: dict[tuple[str, str], list[tuple[str, str, bool]]] = {
    ("", "v1"): [
        ("pods", "Pod", True),
        ("pods/log", "Pod", True),
        ("secrets", "Secret", True),
        ("events", "Event", True),
    ],
    ("batch", "v1"): [("jobs", "Job", True)],
    ("kubeflow.org", "v1"): [("pytorchjobs", "PyTorchJob", True)],
}
Key = tuple[str, str, str, str]  # (apiVersion, plural, namespace, name)


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def status(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_version_of(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def matches(obj: dict[str, Any], labels: str, fields: str) -> bool:
    have = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, labels.split(",")):
        key, _, value = term.partition("=")
        if key not in have or ("=" in term and have[key] != value):
            return False
    for term in filter(None, fields.split(",")):
        path, _, value = term.partition("=")
        node: Any = obj
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node != value:
            return False
    return True


def merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = value
    return target


def validate(kind: str, body: dict[str, Any]) -> None:
    """422 as the API server answers for what the official schemas (or name rules) refuse."""
    name = body.get("metadata", {}).get("name", "")
    if not NAME.match(str(name)) and kind != "Event":
        raise ApiError(422, "Invalid", f'{kind} "{name}" is invalid: metadata.name: Invalid value: "{name}"')
    documents = [body]
    if kind == "PyTorchJob":  # no schema for the custom resource: check what it holds, its pod templates
        documents = [
            {
                "apiVersion": "v1",
                "kind": "PodTemplate",
                "metadata": {"name": "t"},
                "template": replica["template"],
            }
            for replica in (body.get("spec", {}).get("pytorchReplicaSpecs") or {}).values()
        ]
    for document in documents:
        try:
            kubernetes_validate.validate(document, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(part) for part in exc.path)
            raise ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {where}: {exc.message}') from exc
