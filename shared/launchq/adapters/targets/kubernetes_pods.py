"""The pod templates of a run's object, filled for the run (pure: no I/O).

A Job has one pod template (``spec.template``, with one container when the config gives
none); a custom resource has one per replica or task, found wherever a ``template`` has a
``spec`` with ``containers``. Each gets launchq's labels, ``restartPolicy: Never``, the
restricted security context on every container, and the run (image, ``command``, ``args``,
environment) on its main container only; the main container's name is recorded in the
template's ``launchq.io/main-container`` annotation, so logs are read from it. See
``kubernetes_spec`` for the rules and the opt-outs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from launchq.adapters.targets.kubernetes_checks import (
    PULL_POLICIES,
    RESTART_POLICIES,
    SECCOMP_TYPES,
    check_enum,
    check_label_value,
    check_name,
    env_name_problem,
)
from launchq.adapters.targets.kubernetes_options import KubeOptions
from launchq.domain.models import JsonObject
from launchq.errors import InvalidInput

__all__ = [
    "MAIN_ANNOTATION",
    "PodFill",
    "add_labels",
    "as_mapping",
    "fill_pod",
    "job_template",
    "pod_templates",
    "templates_of",
]

FIELD = "resource_args.kubernetes"
MAIN_CONTAINER = "main"
MAIN_ANNOTATION = "launchq.io/main-container"


def as_mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"must be a mapping, got {type(value).__name__}", field=where)
    return value


def pod_templates(body: JsonObject) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every pod template of a custom resource's ``spec``: a ``template`` whose ``spec`` has
    ``containers`` (PyTorchJob replicas, Volcano tasks, a JobSet's jobs), with its path."""

    def walk(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{path}.{key}"
                inner = value.get("spec") if isinstance(value, dict) else None
                if (
                    key == "template"
                    and isinstance(inner, dict)
                    and isinstance(inner.get("containers"), list)
                ):
                    yield here, value
                else:
                    yield from walk(value, here)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                yield from walk(item, f"{path}[{index}]")

    yield from walk(body.get("spec"), "spec")


def job_template(body: JsonObject) -> dict[str, Any]:
    """The Job's pod template, with one container when the config gives none (W&B's minimum)."""
    spec = body.setdefault("spec", {})
    template = as_mapping(spec.setdefault("template", {}), f"{FIELD}.spec.template")
    pod = as_mapping(template.setdefault("spec", {}), f"{FIELD}.spec.template.spec")
    if not pod.get("containers"):
        pod["containers"] = [{"name": MAIN_CONTAINER}]
    return template


def add_labels(meta: dict[str, Any], ours: dict[str, str], where: str) -> None:
    labels = as_mapping(meta.setdefault("labels", {}), f"{where}.labels")
    for key, value in labels.items():
        check_label_value(value, f"{where}.labels.{key}")
    labels.update(ours)


@dataclass
class PodFill:
    """What goes into every pod template of a run's object."""

    options: KubeOptions
    is_job: bool
    labels: dict[str, str]  # launchq's labels: on the object and on its pods
    image: str | None
    command: list[str]
    args: list[str]
    env: dict[str, str]  # launchq's variables: a container's own value wins over these
    run_env: dict[str, str]  # the run's env: wins over everything
    notes: list[str] = field(default_factory=list)


def _security_context(container: dict[str, Any], pod: dict[str, Any], where: str) -> None:
    context = as_mapping(container.setdefault("securityContext", {}), f"{where}.securityContext")
    context.setdefault("allowPrivilegeEscalation", False)
    capabilities = as_mapping(context.setdefault("capabilities", {}), f"{where}.securityContext.capabilities")
    capabilities.setdefault("drop", ["ALL"])
    pod_context = as_mapping(pod.get("securityContext"), f"{where}.securityContext")
    if "seccompProfile" not in context and "seccompProfile" not in pod_context:
        context["seccompProfile"] = {"type": "RuntimeDefault"}
    user = context.get("runAsUser", pod_context.get("runAsUser"))
    if isinstance(user, int) and user > 0:
        context.setdefault("runAsNonRoot", True)


def _env(container: dict[str, Any], part: PodFill, where: str) -> None:
    given = container.get("env") or []
    if not isinstance(given, list):
        raise InvalidInput(f"must be a list, got {type(given).__name__}", field=f"{where}.env")
    entries: dict[str, dict[str, Any]] = {}
    for name, value in part.env.items():
        entries[name] = {"name": name, "value": value}
    for index, entry in enumerate(given):
        own = entry.get("name") if isinstance(entry, dict) else None
        problem = env_name_problem(own)
        if problem:
            raise InvalidInput(problem, field=f"{where}.env[{index}].name")
        if own in part.env and entry != entries[str(own)]:
            part.notes.append(f"{own} set by {FIELD}; launchq's value not used")
        entries[str(own)] = entry
    for name, value in part.run_env.items():
        if name in part.env:
            part.notes.append(f"{name} set by the run's env; launchq's value not used")
        entries[name] = {"name": name, "value": value}
    container["env"] = list(entries.values())


def _main_container(pod: dict[str, Any], options: KubeOptions, where: str) -> int:
    containers = pod["containers"]
    if options.main_container is None:
        return 0
    for index, container in enumerate(containers):
        if isinstance(container, dict) and container.get("name") == options.main_container:
            return index
    raise InvalidInput(
        f"the pod template at {where} has no container named {options.main_container!r}",
        field=f"{FIELD}.launchq.main_container",
    )


def fill_pod(template: dict[str, Any], where: str, part: PodFill) -> None:
    """Fill one pod template: labels, restart policy, security contexts, the run on its main container."""
    meta = as_mapping(template.setdefault("metadata", {}), f"{where}.metadata")
    add_labels(meta, part.labels, f"{where}.metadata")
    pod = as_mapping(template.get("spec"), f"{where}.spec")
    if part.options.injects("restartPolicy"):
        pod.setdefault("restartPolicy", "Never")
    if part.is_job:
        check_enum(pod, "restartPolicy", RESTART_POLICIES, f"{where}.spec")
    main = _main_container(pod, part.options, where)
    for kind in ("initContainers", "containers"):
        listed = pod.get(kind) or []
        if not isinstance(listed, list):
            raise InvalidInput(f"must be a list, got {type(listed).__name__}", field=f"{where}.spec.{kind}")
        for index, item in enumerate(listed):
            here = f"{where}.spec.{kind}[{index}]"
            container = as_mapping(item, here)
            is_main = kind == "containers" and index == main
            container.setdefault("name", MAIN_CONTAINER if is_main else f"{kind.lower()}-{index}")
            check_name(container["name"], f"{here}.name", "container name")
            if is_main:
                _run_on(container, part, here)
                as_mapping(meta.setdefault("annotations", {}), f"{where}.metadata.annotations")[
                    MAIN_ANNOTATION
                ] = container["name"]
            if part.options.injects("securityContext"):
                _security_context(container, pod, here)
            _check_container(container, here)


def _check_container(container: dict[str, Any], here: str) -> None:
    """The enums the schemas leave open, and an image on every container."""
    check_enum(container, "imagePullPolicy", PULL_POLICIES, here)
    context = as_mapping(container.get("securityContext"), f"{here}.securityContext")
    profile = as_mapping(context.get("seccompProfile"), f"{here}.securityContext.seccompProfile")
    check_enum(profile, "type", SECCOMP_TYPES, f"{here}.securityContext.seccompProfile")
    if not container.get("image"):
        raise InvalidInput("every container needs an image", field=f"{here}.image")


def _run_on(container: dict[str, Any], part: PodFill, where: str) -> None:
    if part.image:
        container["image"] = part.image
    elif not container.get("image"):
        raise InvalidInput(
            f"the job needs an image: pass docker_image, or set {where}.image "
            '("${image_uri}" for the builder\'s image)',
            field="docker_image",
        )
    if part.command:
        container["command"] = list(part.command)
    if part.args:
        container["args"] = list(part.args)
    _env(container, part, where)


def templates_of(body: JsonObject, is_job: bool) -> list[tuple[str, dict[str, Any]]]:
    """The object's pod templates with their paths. Raises InvalidInput for a custom resource with none."""
    if is_job:
        return [("spec.template", job_template(body))]
    templates = list(pod_templates(body))
    if not templates:
        raise InvalidInput(
            "the custom resource has no pod template (a `template` whose `spec` has `containers`)",
            field=f"{FIELD}.spec",
        )
    return templates
