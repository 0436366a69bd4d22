"""The Kaniko build Job the ``kaniko`` builder submits: name, arguments, credentials, security.

Kept apart from the builder (which talks to the cluster and the context store) so the
object can be read and tested as plain data; ``infra/k8s/kaniko-job.yaml`` is the same
shape written out for users without launchq.

- **Name**: ``build-job-name`` (cleaned to an RFC 1123 label) + ``-`` + 20 hex characters
  of sha256(run id, tag, Dockerfile, platform). The same run retrying the same build gets
  the same name, so a retried ``start`` finds its own Job instead of creating a second one;
  at most 63 characters (the prefix is cut, never the suffix).
- **Arguments**: ``--context``, ``--dockerfile``, ``--destination`` (the plan's image URI,
  the content tag), ``--cache=true``, ``--snapshot-mode=redo``, ``--custom-platform`` and
  ``--insecure`` for a plain-HTTP registry. ``kaniko-config`` is a Job skeleton, as in W&B:
  its container's ``--flag=value`` args replace launchq's of the same flag, and everything
  else it sets (resources, nodeSelector, serviceAccountName, ...) is kept.
- **Registry credentials** (``secret-name``/``secret-key``, W&B's keys), mounted where
  Kaniko reads them: ECR -- the AWS credentials file at ``/root/.aws`` (it also serves the
  ``s3://`` context) plus a Docker config naming the ``ecr-login`` helper; Artifact
  Registry/GCR -- the service-account key at ``/kaniko/.config/gcloud`` with
  ``GOOGLE_APPLICATION_CREDENTIALS``; ACR and any other registry -- the secret *is* a Docker
  ``config.json``, mounted at ``/kaniko/.docker``. Without a secret: workload identity
  (IRSA, GKE, Azure) through the pod's service account, with the ECR/ACR helper config.
- **Context credentials**: ``s3://`` and ``gs://`` contexts are read with the registry's
  credentials above or the pod's identity. An Azure blob context is read with the account
  key only (Kaniko's ``AZURE_STORAGE_ACCESS_KEY``): launchq's own key goes into the build's
  Secret (owned by the Job, as the Docker config) and reaches the container by
  ``secretKeyRef``, never as a literal in the Job; without one, ``kaniko-config`` must set
  that variable, else the build is refused before anything is uploaded.
- **Security**: Kaniko unpacks the base image and runs the Dockerfile's ``RUN`` steps as
  root inside its own container (its README: "kaniko ... must be run as root"), so the
  restricted profile cannot apply. What is kept: ``allowPrivilegeEscalation: false``,
  ``seccompProfile: RuntimeDefault``, no service-account token, and capabilities dropped to
  the five Kaniko needs (kaniko issues #778/#1171: CHOWN and FOWNER to unpack and chown
  layers, DAC_OVERRIDE to write root-owned paths, SETUID/SETGID for ``USER`` steps).
  A Dockerfile that sets file capabilities also needs SETFCAP: add it in ``kaniko-config``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from launchq.adapters.targets.kubernetes_spec import RUN_ID_LABEL
from launchq.errors import InvalidInput
from launchq.ports import BuildPlan

__all__ = [
    "BUILD_LABEL",
    "CONTAINER",
    "CONTEXT_ANNOTATION",
    "IMAGE_ANNOTATION",
    "KanikoJob",
    "docker_config_secret",
    "job_name_prefix",
    "kaniko_job",
    "kaniko_job_name",
]

CONTAINER = "kaniko"
BUILD_LABEL = "launchq.io/build"
CONTEXT_ANNOTATION = "launchq.io/build-context"
IMAGE_ANNOTATION = "launchq.io/image"
AZURE_KEY = "AZURE_STORAGE_ACCESS_KEY"  # the only way Kaniko reads an Azure blob context
CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"]
BUILD_TIMEOUT_SECONDS = 3600
TTL_SECONDS = 600  # the builder deletes the Job itself; this only cleans up after a crash
_SUFFIX_CHARS = 20
_MAX_NAME = 63
_NOT_NAME = re.compile(r"[^a-z0-9-]+")


def job_name_prefix(prefix: str) -> str:
    """``build-job-name`` as the start of an RFC 1123 label, cut to leave room for the suffix.

    Raises InvalidInput (``builder.build-job-name``) when nothing of it is usable.
    """
    cleaned = _NOT_NAME.sub("-", prefix.lower()).strip("-")[: _MAX_NAME - _SUFFIX_CHARS - 1].rstrip("-")
    if not cleaned:
        raise InvalidInput(
            f"{prefix!r} has no letters or digits to start a Kubernetes name with",
            field="builder.build-job-name",
        )
    return cleaned


def kaniko_job_name(prefix: str, run_id: str, plan: BuildPlan) -> str:
    """``<prefix>-<content hash>``: an RFC 1123 label of at most 63 characters.

    Raises InvalidInput (``builder.build-job-name``) when nothing of the prefix is usable.
    """
    seed = "\0".join((run_id, plan.tag, plan.dockerfile, plan.platform))
    suffix = hashlib.sha256(seed.encode()).hexdigest()[:_SUFFIX_CHARS]
    return f"{job_name_prefix(prefix)}-{suffix}"


@dataclass(frozen=True)
class KanikoJob:
    """What the Job is built from (the builder's settings and one build's facts)."""

    name: str
    namespace: str
    run_id: str
    image: str  # the Kaniko executor image (``kaniko-image``)
    context_url: str
    dockerfile: str  # relative to the context
    destination: str
    platform: str
    registry_kind: str  # ecr, gcr, acr, oci, ...
    registry_host: str
    insecure: bool = False
    region: str | None = None  # AWS region (ECR's, else the builder's)
    secret_name: str | None = None
    secret_key: str | None = None
    skeleton: dict[str, Any] | None = None  # ``kaniko-config``
    # Secret environment Kaniko needs to read the context (Azure's account key): kept out of reprs.
    context_secrets: dict[str, str] | None = field(default=None, repr=False)

    @property
    def docker_config_secret(self) -> str:
        return f"{self.name}-docker"

    def docker_config(self) -> dict[str, Any] | None:
        """The Docker ``config.json`` launchq writes for the build (a credential helper), if any.

        None when the user's secret is itself the Docker config, or no helper applies.
        """
        helper = {"ecr": "ecr-login", "gcr": "gcr"}.get(self.registry_kind)
        if self.registry_kind == "acr" and not self.secret_name:
            helper = "acr-env"  # Azure workload identity
        if helper is None:
            return None
        return {"credHelpers": {self.registry_host: helper}}


def _args(job: KanikoJob, custom: list[str]) -> list[str]:
    args = {
        "--context": job.context_url,
        "--dockerfile": job.dockerfile,
        "--destination": job.destination,
        "--cache": "true",
        "--snapshot-mode": "redo",
        "--custom-platform": job.platform,
    }
    if job.insecure:
        args["--insecure"] = "true"
    for given in custom:
        flag, _, value = str(given).partition("=")
        if not flag.startswith("--"):
            raise InvalidInput(f"{given!r} is not a --flag=value argument", field="builder.kaniko-config")
        args[flag] = value
    return [f"{flag}={value}" for flag, value in args.items()]


def _credentials(job: KanikoJob) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, volume mounts, env) that give Kaniko its registry and context credentials."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    env: list[dict[str, Any]] = []
    if job.region:
        env.append({"name": "AWS_REGION", "value": job.region})
    if job.docker_config() is not None:
        source: dict[str, Any] = {"secretName": job.docker_config_secret}
        if job.context_secrets:  # the Secret holds more than the Docker config: mount only that
            source["items"] = [{"key": "config.json", "path": "config.json"}]
        volumes.append({"name": "docker-config", "secret": source})
        mounts.append({"name": "docker-config", "mountPath": "/kaniko/.docker", "readOnly": True})
    for name in sorted(job.context_secrets or {}):
        ref = {"name": job.docker_config_secret, "key": name}
        env.append({"name": name, "valueFrom": {"secretKeyRef": ref}})
    if not (job.secret_name and job.secret_key):
        return volumes, mounts, env
    where, file = {
        "ecr": ("/root/.aws", "credentials"),
        "gcr": ("/kaniko/.config/gcloud", "credentials.json"),
    }.get(job.registry_kind, ("/kaniko/.docker", "config.json"))
    volumes.append(
        {
            "name": "registry-credentials",
            "secret": {"secretName": job.secret_name, "items": [{"key": job.secret_key, "path": file}]},
        }
    )
    mounts.append({"name": "registry-credentials", "mountPath": where, "readOnly": True})
    if job.registry_kind == "ecr":
        env.append({"name": "AWS_SHARED_CREDENTIALS_FILE", "value": f"{where}/{file}"})
    elif job.registry_kind == "gcr":
        env.append({"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": f"{where}/{file}"})
    return volumes, mounts, env


def _check_context_credentials(job: KanikoJob, container: dict[str, Any]) -> None:
    """Refuse an Azure blob context Kaniko could not read (it has no key from launchq or kaniko-config)."""
    if not job.context_url.startswith(("https://", "http://")):
        return
    given = {str(item.get("name")) for item in container.get("env") or [] if isinstance(item, dict)}
    if AZURE_KEY not in given and AZURE_KEY not in (job.context_secrets or {}):
        raise InvalidInput(
            f"Kaniko reads Azure blob contexts with the storage account key: set {AZURE_KEY} "
            f"where launchq runs (the Helm chart's azureStorageAccessKey), or give the Kaniko "
            f"container {AZURE_KEY} in kaniko-config",
            field="builder.build-context-store",
        )


def _security_context(given: dict[str, Any]) -> dict[str, Any]:
    """Kaniko's context (see the module docstring); what ``kaniko-config`` sets is kept."""
    context = dict(given)
    context.setdefault("runAsUser", 0)
    context.setdefault("runAsNonRoot", False)
    context.setdefault("allowPrivilegeEscalation", False)
    context.setdefault("seccompProfile", {"type": "RuntimeDefault"})
    context.setdefault("capabilities", {"drop": ["ALL"], "add": list(CAPABILITIES)})
    return context


def _skeleton(job: KanikoJob) -> tuple[dict[str, Any], dict[str, Any]]:
    """A copy of ``kaniko-config`` and its one container. Raises InvalidInput for more than one."""
    skeleton = copy.deepcopy(job.skeleton or {})
    pod = skeleton.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})
    containers = pod.get("containers") or [{}]
    if len(containers) != 1 or not isinstance(containers[0], dict):
        raise InvalidInput(
            "kaniko-config may describe one container (the Kaniko executor)",
            field="builder.kaniko-config.spec.template.spec.containers",
        )
    return skeleton, containers[0]


def kaniko_job(job: KanikoJob) -> dict[str, Any]:
    """The ``batch/v1`` Job. Raises InvalidInput (``builder.kaniko-config``) for a skeleton it cannot use."""
    body, container = _skeleton(job)
    _check_context_credentials(job, container)
    labels = {"app.kubernetes.io/name": "launchq-image-build", "app.kubernetes.io/managed-by": "launchq"}
    labels |= {RUN_ID_LABEL: job.run_id, BUILD_LABEL: job.name}
    body.update(apiVersion="batch/v1", kind="Job")
    meta = body.setdefault("metadata", {})
    meta.update(name=job.name, namespace=job.namespace)
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        CONTEXT_ANNOTATION: job.context_url,
        IMAGE_ANNOTATION: job.destination,
    }
    spec = body["spec"]
    spec.setdefault("backoffLimit", 0)
    spec.setdefault("ttlSecondsAfterFinished", TTL_SECONDS)
    spec.setdefault("activeDeadlineSeconds", BUILD_TIMEOUT_SECONDS)
    template = spec["template"]
    template_meta = template.setdefault("metadata", {})
    template_meta["labels"] = {**(template_meta.get("labels") or {}), **labels}
    pod = template["spec"]
    pod.setdefault("restartPolicy", "Never")
    pod.setdefault("automountServiceAccountToken", False)
    volumes, mounts, env = _credentials(job)
    container.update(
        name=container.get("name") or CONTAINER,
        image=container.get("image") or job.image,
        args=_args(job, list(container.get("args") or [])),
        env=[*(container.get("env") or []), *env],
        volumeMounts=[*(container.get("volumeMounts") or []), *mounts],
        securityContext=_security_context(container.get("securityContext") or {}),
    )
    pod["containers"] = [container]
    pod["volumes"] = [*(pod.get("volumes") or []), *volumes]
    return body


def docker_config_secret(job: KanikoJob, owner: dict[str, Any]) -> dict[str, Any] | None:
    """The build's Secret, owned by the Job (it goes with it): launchq's Docker config and the
    context's secrets (Azure's account key), whichever the build has; None for neither."""
    config = job.docker_config()
    if config is None and not job.context_secrets:
        return None
    data = {"config.json": json.dumps(config)} if config is not None else {}
    meta = owner.get("metadata") or {}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": job.docker_config_secret,
            "namespace": job.namespace,
            "labels": {RUN_ID_LABEL: job.run_id, BUILD_LABEL: job.name},
            "ownerReferences": [
                {"apiVersion": "batch/v1", "kind": "Job", "name": job.name, "uid": meta.get("uid", "")}
            ],
        },
        "type": "Opaque",
        "stringData": {**data, **(job.context_secrets or {})},
    }
