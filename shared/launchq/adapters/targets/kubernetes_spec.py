"""The object a ``kubernetes`` run submits, built from its resolved queue config (pure: no I/O).

The queue config is W&B's: a ``batch/v1`` Job (``metadata``, ``spec``, W&B's top-level
``namespace``, launchq's ``secrets``), or any custom resource when ``apiVersion``/``kind``
are given (a Kubeflow ``PyTorchJob``, a Volcano ``Job``, a ``JobSet``); the ``kubernetes:`` wrapper of W&B's
examples is already unwrapped (``config.templates.unwrap_resource``) and macros are
already substituted by the dispatcher. Other top-level keys are refused, naming them.

What launchq adds, where the config does not set it:

- on a Job: ``spec.backoffLimit: 0``, ``spec.ttlSecondsAfterFinished: 60``;
- on every pod template (the Job's, each replica's of a custom resource):
  ``restartPolicy: Never``, and on every container (init containers and sidecars too) the
  restricted security context: ``allowPrivilegeEscalation: false``,
  ``capabilities.drop: [ALL]``, ``seccompProfile.type: RuntimeDefault`` (unless the pod
  sets a profile), and ``runAsNonRoot: true`` where the container or pod runs as a
  non-zero ``runAsUser`` (launchq cannot see an image's ``USER``, so it never claims more);
- labels ``launchq.io/run-id``, ``launchq.io/queue`` and ``launchq.io/attempt`` on the
  object and its pod templates (pods are found by them: the run's id and its attempt);
- the run's image, entry point (``command``), ``args`` and environment on the *main*
  container of each pod template -- the first of ``containers``, or the one named by
  ``launchq.main_container`` -- never on sidecars or init containers. The environment
  is launchq's ``LAUNCHQ_*``/``WANDB_*`` variables, then the container's own, then the
  run's ``env`` (a later value wins; the note says which of launchq's were replaced).
- the config's ``secrets`` (``config.secrets``: only ``k8s:<secret>/<key>``) on the main
  container as ``valueFrom.secretKeyRef``, so no secret value is ever in the object;
- a Kueue ``LocalQueue`` label (``kueue.x-k8s.io/queue-name``) on a Job makes it
  ``suspend: true``: Kueue admits it.

A queue opts out of a default explicitly, never by accident: ``launchq: {skip_defaults:
[securityContext]}`` (any of ``backoffLimit``, ``ttlSecondsAfterFinished``,
``restartPolicy``, ``securityContext``). The ``launchq`` block is launchq's and is not
sent: ``skip_defaults``, ``main_container``, and where the cluster is (``context``: a
kubeconfig context; ``in_cluster``: the pod's service account; ``eks``: ``{name, region}``).

The object's name is ``metadata.name`` when the config gives one (W&B's PyTorchJob example
uses ``${run_id}-pytorch-job``), else ``<run name slug or launchq>-<run id>``: derived from
the run, so a retried submit finds its own object instead of starting a second job.
``generateName`` is refused for the same reason. A run requeued after a preemption is
submitted again as its next attempt (``Run.preemptions``): from attempt 1 on the name ends
``-a<attempt>`` (the base shortened to keep 63 characters), so the new object never meets
the one taken away, which may still be being deleted.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from launchq.adapters.targets.kubernetes_checks import check_label_value, check_name
from launchq.adapters.targets.kubernetes_options import KubeOptions
from launchq.adapters.targets.kubernetes_pods import (
    FIELD,
    MAIN_ANNOTATION,
    PodFill,
    add_labels,
    as_mapping,
    fill_pod,
    templates_of,
)
from launchq.adapters.targets.sagemaker_config import injected_environment
from launchq.config.macros import MacroValues, substitute_macros
from launchq.config.secrets import KubernetesSecret, SecretRef, parse_secrets
from launchq.domain.models import JsonObject, RunSpec
from launchq.errors import InvalidInput
from launchq.validation import invalid_input

__all__ = [
    "ATTEMPT_LABEL",
    "FIELD",
    "QUEUE_LABEL",
    "RESOURCE",
    "RUN_ID_LABEL",
    "KubeObject",
    "KubeOptions",
    "attempt_name",
    "build_object",
    "check_object",
    "default_name",
]

RESOURCE = "kubernetes"
RUN_ID_LABEL = "launchq.io/run-id"
QUEUE_LABEL = "launchq.io/queue"
ATTEMPT_LABEL = "launchq.io/attempt"
_MAX_NAME = 63
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
JOB_API_VERSION, JOB_KIND = "batch/v1", "Job"
DEFAULT_BACKOFF_LIMIT = 0
DEFAULT_TTL_SECONDS = 60
_TOP_KEYS = frozenset({"apiVersion", "kind", "metadata", "spec", "namespace", "launchq", "secrets"})
#: A Secret of the cluster is the only source whose value never passes through launchq.
SECRET_SOURCES = ("kubernetes",)
_API_VERSION = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?v[0-9]+((alpha|beta)[0-9]+)?$")
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}$")


@dataclass
class KubeObject:
    """The object to create for a run, where, and what the run's events should say."""

    api_version: str
    kind: str
    name: str
    namespace: str | None  # None: the kube context's namespace, else "default"
    body: JsonObject
    options: KubeOptions
    notes: list[str] = field(default_factory=list)

    @property
    def is_job(self) -> bool:
        return (self.api_version, self.kind) == (JOB_API_VERSION, JOB_KIND)


def split_options(resolved: JsonObject) -> tuple[JsonObject, KubeOptions]:
    """The config without its ``launchq`` block, and the block. Raises InvalidInput."""
    for key in resolved:
        if key not in _TOP_KEYS:
            raise InvalidInput(
                "unknown key (a Job or custom resource has apiVersion, kind, metadata, spec; "
                "W&B's namespace; launchq's own settings go under launchq)",
                field=f"{FIELD}.{key}",
            )
    config = copy.deepcopy(resolved)
    try:
        options = KubeOptions.model_validate(as_mapping(config.pop("launchq", None), f"{FIELD}.launchq"))
    except ValidationError as exc:
        raise invalid_input(exc, f"{FIELD}.launchq") from None
    if options.main_container is not None:
        check_name(options.main_container, f"{FIELD}.launchq.main_container", "container name")
    return config, options


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def default_name(spec: RunSpec, run_id: str) -> str:
    """``<slug of the run name, or launchq>-<run id>``, an RFC 1123 label of at most 63 characters."""
    rid = _slug(run_id)[:63] or "run"
    base = (_slug(spec.name or "") or "launchq")[: 62 - len(rid)].strip("-")
    return f"{base}-{rid}" if base else rid


def attempt_name(name: str, attempt: int) -> str:
    """``name`` for attempt 0, else ``<name>-a<attempt>`` shortened to an RFC 1123 label."""
    if attempt == 0:
        return name
    suffix = f"-a{attempt}"
    return name[: _MAX_NAME - len(suffix)].rstrip("-.") + suffix


def _identity(config: JsonObject) -> tuple[str, str]:
    api_version = config.get("apiVersion", JOB_API_VERSION)
    kind = config.get("kind", JOB_KIND)
    if not isinstance(api_version, str) or not _API_VERSION.match(api_version):
        raise InvalidInput(
            f"{api_version!r} is not an API version (group/version)", field=f"{FIELD}.apiVersion"
        )
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise InvalidInput(f"{kind!r} is not a kind (e.g. Job, PyTorchJob)", field=f"{FIELD}.kind")
    return api_version, kind


def _namespace(config: JsonObject, meta: dict[str, Any]) -> str | None:
    """From the object's metadata, then W&B's top-level ``namespace``; None: the kube context's."""
    top = config.pop("namespace", None)
    if "namespace" in meta:
        return check_name(meta["namespace"], f"{FIELD}.metadata.namespace", "namespace")
    if top is not None:
        return check_name(top, f"{FIELD}.namespace", "namespace")
    return None


def build_object(
    spec: RunSpec, resolved: JsonObject, *, run_id: str, queue: str, entity: str, attempt: int = 0
) -> KubeObject:
    """The object for a run's ``attempt``, with launchq's defaults, labels and the run on its
    main containers. Raises InvalidInput naming the field.
    """
    config, options = split_options(resolved)
    secrets = parse_secrets(config.pop("secrets", None), f"{FIELD}.secrets", SECRET_SOURCES)
    api_version, kind = _identity(config)
    config["apiVersion"], config["kind"] = api_version, kind
    meta = as_mapping(config.setdefault("metadata", {}), f"{FIELD}.metadata")
    if "generateName" in meta:
        raise InvalidInput(
            "is refused: a generated name would start a second job when a submit is retried; "
            "leave the name out (launchq derives one from the run) or use ${run_id} in metadata.name",
            field=f"{FIELD}.metadata.generateName",
        )
    namespace = _namespace(config, meta)
    meta.pop("namespace", None)
    name = check_name(meta.get("name") or default_name(spec, run_id), f"{FIELD}.metadata.name", "object name")
    name = attempt_name(name, attempt)
    meta["name"] = name
    ours = {
        RUN_ID_LABEL: check_label_value(run_id, "run id"),
        QUEUE_LABEL: check_label_value(queue, "queue"),
        ATTEMPT_LABEL: str(attempt),
    }
    add_labels(meta, ours, f"{FIELD}.metadata")
    obj = KubeObject(api_version, kind, name, namespace, config, options)
    if obj.is_job:
        _job_defaults(obj)
    part = PodFill(
        options=options,
        is_job=obj.is_job,
        labels=ours,
        image=spec.docker_image,
        command=list(spec.entry_point),
        args=list(spec.args),
        env=injected_environment(spec, run_id, queue, entity),
        run_env=dict(spec.env),
    )
    for where, template in templates_of(config, obj.is_job):
        fill_pod(template, f"{FIELD}.{where}", part)
        _secret_refs(template, secrets, obj.notes)
    obj.notes += dict.fromkeys(part.notes)  # one note per variable, however many replicas
    return obj


def _secret_refs(template: dict[str, Any], secrets: dict[str, SecretRef], notes: list[str]) -> None:
    """The config's ``secrets`` on the main container as ``valueFrom.secretKeyRef``: the
    value stays in the cluster's Secret, never in the object launchq sends or stores. A
    secret wins over a plain value of the same name (which would otherwise leak or shadow it)."""
    if not secrets:
        return
    main_name = template["metadata"]["annotations"][MAIN_ANNOTATION]
    main = next(c for c in template["spec"]["containers"] if c.get("name") == main_name)
    entries = {entry["name"]: entry for entry in main.get("env") or []}
    for variable, ref in secrets.items():
        if not isinstance(ref, KubernetesSecret):  # SECRET_SOURCES admits no other
            continue
        if variable in entries and "valueFrom" not in entries[variable]:
            notes.append(f"{variable} comes from Secret {ref.name}; the plain value set for it is not used")
        key_ref: dict[str, Any] = {"name": ref.name, "key": ref.key}
        if ref.optional:
            key_ref["optional"] = True
        entries[variable] = {"name": variable, "valueFrom": {"secretKeyRef": key_ref}}
    main["env"] = list(entries.values())


def _job_defaults(obj: KubeObject) -> None:
    job = as_mapping(obj.body.setdefault("spec", {}), f"{FIELD}.spec")
    if obj.options.injects("backoffLimit"):
        job.setdefault("backoffLimit", DEFAULT_BACKOFF_LIMIT)
    if obj.options.injects("ttlSecondsAfterFinished"):
        job.setdefault("ttlSecondsAfterFinished", DEFAULT_TTL_SECONDS)
    labels = obj.body["metadata"]["labels"]
    if KUEUE_QUEUE_LABEL in labels and "suspend" not in job:
        job["suspend"] = True
        obj.notes.append(f"waiting for Kueue to admit it from LocalQueue {labels[KUEUE_QUEUE_LABEL]}")


# Values the macros stand for while a run waits in line (its image and id come at submit).
_ENQUEUE_MACROS = MacroValues(
    image_uri="registry.invalid/launchq/pending-build:0",
    run_id="0" * 16,
    run_name="run",
    project_name="project",
    entity_name="entity",
    queue_name="queue",
    author="author",
)


def check_object(spec: RunSpec, resolved: JsonObject) -> KubeObject:
    """Everything ``build_object`` checks, at enqueue (macros stand in for values that come
    at submit). Raises InvalidInput naming the field."""
    settled = substitute_macros(resolved, _ENQUEUE_MACROS, FIELD)
    return build_object(spec, settled, run_id="0" * 16, queue="queue", entity="entity")
