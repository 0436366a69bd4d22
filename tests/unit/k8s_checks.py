"""Checks every Kubernetes object launchq ships or produces must pass, short of a real API server.

``kubernetes-validate --strict`` holds objects to the official OpenAPI schemas (types,
required and unknown fields) but not to enums or name formats, which the API server checks
on its own; ``launchq_problems`` adds those, plus the restricted security context launchq
promises on its containers. Each check returns problems as ``path: reason`` lines, so a
failing test names every broken field at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import yaml

KUBE_VERSION = "1.31"

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

ENUMS = {
    "imagePullPolicy": {"Always", "IfNotPresent", "Never"},
    "restartPolicy": {"Always", "OnFailure", "Never"},
    "strategy.type": {"Recreate", "RollingUpdate"},
    "seccompProfile.type": {"RuntimeDefault", "Localhost", "Unconfined"},
    "accessModes": {"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"},
}
SECRET_NAME_WORDS = re.compile(r"API_KEY|ACCESS_KEY|TOKEN|SECRET|PASSWORD", re.IGNORECASE)


def documents(text: str) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML text (empty documents dropped)."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def schema_problems(obj: dict[str, Any]) -> list[str]:
    """The first schema violation of ``obj`` under Kubernetes 1.31, strict (no unknown fields)."""
    try:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path)
        return [f"{_ident(obj)} {where}: {exc.message}"]
    return []


def _ident(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')}/{meta.get('namespace', '')}/{meta.get('name')}"


def _name_problems(obj: dict[str, Any]) -> Iterator[str]:
    meta = obj.get("metadata") or {}
    name, namespace = meta.get("name", ""), meta.get("namespace")
    if not (len(name) <= 253 and DNS_SUBDOMAIN.match(name)):
        yield f"{_ident(obj)} metadata.name: not an RFC 1123 subdomain"
    if obj.get("kind") in {"Deployment", "Job"} and len(name) > 63:
        yield f"{_ident(obj)} metadata.name: longer than 63 (pods carry it in a label)"
    if namespace is not None and not (len(namespace) <= 63 and DNS_LABEL.match(namespace)):
        yield f"{_ident(obj)} metadata.namespace: not an RFC 1123 label"
    for where, labels in _label_sets(obj):
        for key, value in labels.items():
            prefix, _, label = key.rpartition("/")
            if prefix and not DNS_SUBDOMAIN.match(prefix):
                yield f"{_ident(obj)} {where}.{key}: prefix is not a DNS subdomain"
            if not (0 < len(label) <= 63 and LABEL_NAME.match(label)):
                yield f"{_ident(obj)} {where}.{key}: not a label name"
            if not (isinstance(value, str) and len(value) <= 63 and LABEL_VALUE.match(value)):
                yield f"{_ident(obj)} {where}.{key}: {value!r} is not a label value"


def _label_sets(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "metadata.labels", (obj.get("metadata") or {}).get("labels") or {}
    template = (obj.get("spec") or {}).get("template") or {}
    yield "spec.template.metadata.labels", (template.get("metadata") or {}).get("labels") or {}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template's spec of a Deployment or Job, else None."""
    if obj.get("kind") not in {"Deployment", "Job"}:
        return None
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(obj) or {}
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def _enum_problems(obj: dict[str, Any]) -> Iterator[str]:
    def bad(where: str, value: Any, enum: str) -> Iterator[str]:
        if value is not None and value not in ENUMS[enum]:
            yield f"{_ident(obj)} {where}: {value!r} not one of {sorted(ENUMS[enum])}"

    spec = obj.get("spec") or {}
    yield from bad("spec.strategy.type", (spec.get("strategy") or {}).get("type"), "strategy.type")
    for mode in spec.get("accessModes", []) if obj.get("kind") == "PersistentVolumeClaim" else []:
        yield from bad("spec.accessModes", mode, "accessModes")
    pod = pod_spec(obj) or {}
    yield from bad("restartPolicy", pod.get("restartPolicy"), "restartPolicy")
    profiles = [pod.get("securityContext") or {}] + [c.get("securityContext") or {} for c in containers(obj)]
    for profile in profiles:
        seccomp = (profile.get("seccompProfile") or {}).get("type")
        yield from bad("seccompProfile.type", seccomp, "seccompProfile.type")
    for container in containers(obj):
        yield from bad(
            f"{container['name']}.imagePullPolicy", container.get("imagePullPolicy"), "imagePullPolicy"
        )
        if not DNS_LABEL.match(container["name"]):
            yield f"{_ident(obj)} container {container['name']!r}: not an RFC 1123 label"
    for volume in pod.get("volumes", []):
        if not DNS_LABEL.match(volume["name"]):
            yield f"{_ident(obj)} volume {volume['name']!r}: not an RFC 1123 label"


def _env_problems(obj: dict[str, Any]) -> Iterator[str]:
    for container in containers(obj):
        for var in container.get("env", []):
            if SECRET_NAME_WORDS.search(var["name"]) and "value" in var:
                yield f"{_ident(obj)} {container['name']}.env.{var['name']}: secret in plain env"


def launchq_problems(obj: dict[str, Any]) -> list[str]:
    """Names, enums and env checks the schemas do not make."""
    return [*_name_problems(obj), *_enum_problems(obj), *_env_problems(obj)]


def restricted_problems(obj: dict[str, Any]) -> list[str]:
    """Where a container falls short of the restricted Pod Security Standard (+ read-only root)."""
    pod = (pod_spec(obj) or {}).get("securityContext") or {}
    problems = []
    for container in containers(obj):
        ctx = container.get("securityContext") or {}
        where = f"{_ident(obj)} {container['name']}.securityContext"
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}.allowPrivilegeEscalation: not false")
        if "ALL" not in (ctx.get("capabilities") or {}).get("drop", []):
            problems.append(f"{where}.capabilities.drop: no ALL")
        if (ctx.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}.seccompProfile: not RuntimeDefault")
        if not ctx.get("runAsNonRoot", pod.get("runAsNonRoot")):
            problems.append(f"{where}.runAsNonRoot: not true")
        if ctx.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}.readOnlyRootFilesystem: not true")
    return problems


def all_problems(objects: list[dict[str, Any]]) -> list[str]:
    """Schema and launchq problems of every object."""
    return [p for obj in objects for p in (*schema_problems(obj), *launchq_problems(obj))]
