"""The ``kubernetes`` target: each run is one Job, or one custom resource, in a cluster.

The object is built by ``kubernetes_spec`` (defaults, labels, the run on its main
containers) and named from the run and its attempt (``Run.preemptions``: a run requeued
after a preemption is submitted again under ``<name>-a<attempt>``), so a retried submit
that finds an object of that name labelled with the run's id and attempt adopts it instead
of starting a second job; an object of that name belonging to another run (or attempt) is
a LaunchFailed naming the clash. The handle keeps the object's ``api_version``, ``kind``,
``namespace``, ``name``, the ``attempt`` and which ``cluster`` (the queue config's
``launchq`` block), so status, stop and logs go to the same place from any dispatcher,
after a restart too.

Status is read from the object and its pods (labels ``launchq.io/run-id`` and
``launchq.io/attempt``: the pods of a preempted attempt, still being deleted, are not the
current attempt's), mapped by ``kubernetes_status``. ``watch`` keeps one watch per
(cluster, namespace, kind) this process has submitted to or been asked about, and
notifies a run's id when its object ends or disappears; the reconciler's polls stay the
safety net (and catch a preemption of a custom resource, whose object may not end).

Stop: a job that already ended is left alone; otherwise launchq records a
``LaunchqStopped`` event on the object (kept by the API server for an hour, visible in
``kubectl get events``) and deletes it with foreground propagation (its pods go first),
so status reads ``stopped`` while it is deleted and after it is gone.

Per-run pull secret: with a ``pull_secret`` provider (image -> ``.dockerconfigjson``
text), a ``kubernetes.io/dockerconfigjson`` Secret ``<name>-pull`` is created with the run,
referenced by every pod template, and owned by the object (``ownerReferences``), so
Kubernetes deletes it with the job. Its contents are never logged or put in an error.

Logs: the main container of each of the run's pods (the ``launchq.io/main-container``
annotation of its template), pods in name order, one after the other; the offset counts
characters of that text and never goes back.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from launchq.adapters.targets.kubernetes_client import (
    ClientFactory,
    ClusterClient,
    context_namespace,
    default_api_client,
    kube_call,
)
from launchq.adapters.targets.kubernetes_options import CLUSTER_FIELDS, KubeOptions
from launchq.adapters.targets.kubernetes_pods import MAIN_ANNOTATION, templates_of
from launchq.adapters.targets.kubernetes_spec import (
    ATTEMPT_LABEL,
    RESOURCE,
    RUN_ID_LABEL,
    KubeObject,
    build_object,
    check_object,
)
from launchq.adapters.targets.kubernetes_status import (
    STOPPED_REASON,
    custom_status,
    ended_from_events,
    job_status,
)
from launchq.domain.models import JsonObject, Run, RunSpec
from launchq.errors import (
    AlreadyExists,
    BackendUnavailable,
    InvalidInput,
    LaunchFailed,
    LaunchqError,
    NotFound,
)
from launchq.ports import Registry, Target, TargetStatus

__all__ = ["KubernetesTarget", "registry_pull_secret"]

PullSecret = Callable[[str], str | None]
"""The Docker config (``.dockerconfigjson``) that lets a cluster pull ``image``, or None."""


def registry_pull_secret(registry: Registry | None) -> PullSecret | None:
    """Pull credentials for images in ``registry`` (the one launchq pushes built images to):
    each run's job gets them as its own Secret; images elsewhere get none. None without a
    registry. The registry's credentials are asked for at each submit (ECR's expire)."""
    if registry is None:
        return None
    found = registry

    def for_image(image: str) -> str | None:
        if image.split("/", 1)[0] != found.image_uri("latest").split("/", 1)[0]:
            return None
        credentials = found.credentials()
        return credentials.auth_file() if credentials is not None else None

    return for_image


_ENDED = frozenset({"finished", "failed", "stopped", "lost"})
_WATCH_SECONDS = 60


class KubernetesTarget(Target):
    """Runs jobs as Kubernetes Jobs or custom resources; one client per cluster, built on first use."""

    resource: ClassVar[str] = RESOURCE
    needs_image: ClassVar[bool] = True

    def __init__(
        self,
        api_client: ClientFactory | None = None,
        *,
        namespace_of: Callable[[KubeOptions], str | None] | None = None,
        pull_secret: PullSecret | None = None,
        watch_seconds: int = _WATCH_SECONDS,
    ) -> None:
        self._factory = api_client or default_api_client
        # The kube context's namespace, when the factory is the kubeconfig's (an injected one has none).
        self._namespace_of = namespace_of or (context_namespace if api_client is None else lambda _: None)
        self._pull_secret = pull_secret
        self._watch_seconds = watch_seconds
        self._clients: dict[str, ClusterClient] = {}
        self._lock = threading.Lock()
        self._notify: Callable[[str], None] | None = None
        self._followed: set[tuple[str, str, str, str]] = set()

    # -- Target -------------------------------------------------------------------------
    def validate(self, spec: RunSpec, resolved: JsonObject) -> None:
        check_object(spec, resolved)

    def submit(self, run: Run) -> dict[str, str]:
        try:
            obj = build_object(
                run.spec,
                run.resolved,
                run_id=run.id,
                queue=run.queue,
                entity=run.entity,
                attempt=run.preemptions,
            )
        except InvalidInput as exc:
            raise LaunchFailed(str(exc)) from exc
        client = self._client(obj.options, LaunchFailed)
        with kube_call("reading the kube context", LaunchFailed):
            namespace = obj.namespace or self._namespace_of(obj.options) or "default"
        obj.body["metadata"]["namespace"] = namespace
        handle = {
            "api_version": obj.api_version,
            "kind": obj.kind,
            "namespace": namespace,
            "name": obj.name,
            "attempt": str(run.preemptions),
            "cluster": obj.options.model_dump_json(include=set(CLUSTER_FIELDS)),
        }
        if obj.notes:
            handle["note"] = "; ".join(obj.notes)
        secret = self._secret_for(run, obj, namespace)
        try:
            created = client.create(obj.api_version, obj.kind, namespace, obj.body, LaunchFailed)
        except AlreadyExists as exc:
            created = self._adopt(run, client, handle, exc)
        except LaunchqError:
            if secret is not None:  # nothing will own it: it must not outlive the failed submit
                with contextlib.suppress(LaunchqError):
                    client.delete("v1", "Secret", namespace, secret)
            raise
        if secret is not None:
            self._own(client, namespace, secret, created)
        self._follow(handle)
        return handle

    def status(self, run: Run) -> TargetStatus:
        if not run.handle.get("name"):
            return TargetStatus(state="lost", detail="the run has no Kubernetes object handle")
        client, h = self._client(self._options(run.handle)), run.handle
        self._follow(h)
        try:
            obj = client.get(h["api_version"], h["kind"], h["namespace"], h["name"])
        except NotFound:
            ended = ended_from_events(self._events(client, h))
            return ended or TargetStatus(state="lost", detail=f"the cluster has no {h['kind']} {h['name']}")
        pods = client.list("v1", "Pod", h["namespace"], label_selector=_pods_of(run))
        status = _mapped(h, obj, pods)
        if obj.get("metadata", {}).get("deletionTimestamp") and status.state not in _ENDED:
            ended = ended_from_events(self._events(client, h))
            return ended or TargetStatus(state="running", detail="being deleted")
        return status

    def stop(self, run: Run) -> None:
        """Record the stop on the object, then delete it (foreground); an ended job is kept."""
        h = run.handle
        if not h.get("name"):
            return
        client = self._client(self._options(h))
        try:
            obj = client.get(h["api_version"], h["kind"], h["namespace"], h["name"])
            if _mapped(h, obj, []).state in _ENDED:
                return
            self._record_stop(client, h, obj)
            client.delete(h["api_version"], h["kind"], h["namespace"], h["name"])
        except NotFound:
            return

    def logs(self, run: Run, offset: int = 0) -> tuple[str, int]:
        if offset < 0:
            raise InvalidInput("must be 0 or more", field="offset")
        h = run.handle
        if not h.get("name"):
            return "", offset
        client = self._client(self._options(h))
        pods = client.list("v1", "Pod", h["namespace"], label_selector=_pods_of(run))
        text = ""
        for pod in sorted(pods, key=lambda p: str(p["metadata"]["name"])):
            try:
                text += client.pod_log(h["namespace"], str(pod["metadata"]["name"]), _main_container(pod))
            except LaunchqError:
                continue  # a pod not started yet, or gone: the others still have their output
        return text[offset:], max(offset, len(text))

    def watch(self, notify: Callable[[str], None] | None) -> None:
        with self._lock:
            self._notify = notify
            if notify is None:
                self._followed.clear()  # the threads end at their next timeout

    # -- helpers ------------------------------------------------------------------------
    def _options(self, handle: dict[str, str]) -> KubeOptions:
        return KubeOptions.model_validate_json(handle.get("cluster") or "{}")

    def _client(
        self, options: KubeOptions, refused: Callable[[str], LaunchqError] = BackendUnavailable
    ) -> ClusterClient:
        """The cluster's client, built once. Raises ``refused`` (no credentials), BackendUnavailable."""
        key = options.cluster_key()
        with self._lock:
            if key not in self._clients:
                with kube_call(f"connecting to the cluster ({key})", refused):
                    self._clients[key] = ClusterClient(self._factory(options))
            return self._clients[key]

    def _adopt(
        self, run: Run, client: ClusterClient, handle: dict[str, str], exc: AlreadyExists
    ) -> dict[str, Any]:
        """An object of the run's name exists: ours from an earlier submit of this attempt
        (returned), or another run's or attempt's. An object without the attempt label
        (made before attempts were labelled) is attempt 0's."""
        try:
            found = client.get(handle["api_version"], handle["kind"], handle["namespace"], handle["name"])
        except LaunchqError as missing:
            raise LaunchFailed(f"{exc.detail}, and it could not be read: {missing}") from exc
        labels = found.get("metadata", {}).get("labels") or {}
        if labels.get(RUN_ID_LABEL) != run.id:
            raise LaunchFailed(
                f"{exc.detail} (it belongs to another run; leave metadata.name out, or include ${{run_id}})"
            ) from exc
        if labels.get(ATTEMPT_LABEL, "0") != handle["attempt"]:
            raise LaunchFailed(
                f"{exc.detail} (it is attempt {labels.get(ATTEMPT_LABEL, '0')} of this run, "
                f"not attempt {handle['attempt']})"
            ) from exc
        return found

    def _events(self, client: ClusterClient, h: dict[str, str]) -> list[dict[str, Any]]:
        return client.list("v1", "Event", h["namespace"], field_selector=f"involvedObject.name={h['name']}")

    def _record_stop(self, client: ClusterClient, h: dict[str, str], obj: dict[str, Any]) -> None:
        meta = obj.get("metadata", {})
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{h['name']}.launchq-stopped", "namespace": h["namespace"]},
            "involvedObject": {
                "apiVersion": h["api_version"],
                "kind": h["kind"],
                "name": h["name"],
                "namespace": h["namespace"],
                "uid": meta.get("uid", ""),
            },
            "reason": STOPPED_REASON,
            "message": "stopped by launchq",
            "type": "Normal",
            "count": 1,
            "firstTimestamp": _now(),
            "lastTimestamp": _now(),
            "source": {"component": "launchq"},
        }
        with contextlib.suppress(AlreadyExists):  # a stop asked twice
            client.create("v1", "Event", h["namespace"], event, LaunchFailed)

    def _secret_for(self, run: Run, obj: KubeObject, namespace: str) -> str | None:
        """Create the run's image pull Secret (if a provider gives credentials), refer to it from
        every pod template, and return its name. Named from the run id, so it is never another's."""
        image = run.spec.docker_image
        config = self._pull_secret(image) if self._pull_secret and image else None
        if config is None:
            return None
        attempt = f"-a{run.preemptions}" if run.preemptions else ""
        name = f"launchq-pull-{run.id.lower()}"[: 253 - len(attempt)] + attempt
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/dockerconfigjson",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": dict(obj.body["metadata"]["labels"]),
            },
            "stringData": {".dockerconfigjson": config},
        }
        client = self._client(obj.options)
        with contextlib.suppress(AlreadyExists):  # from an earlier attempt of this very run
            client.create("v1", "Secret", namespace, secret, LaunchFailed)
        _add_pull_secret(obj, name)
        return name

    def _own(self, client: ClusterClient, namespace: str, secret: str, owner: dict[str, Any]) -> None:
        """Make the run's object the owner of its Secret: Kubernetes deletes the Secret with it."""
        meta = owner.get("metadata", {})
        reference = {
            "apiVersion": owner.get("apiVersion"),
            "kind": owner.get("kind"),
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "blockOwnerDeletion": True,
        }
        client.patch("v1", "Secret", namespace, secret, {"metadata": {"ownerReferences": [reference]}})

    def _follow(self, handle: dict[str, str]) -> None:
        """Start a watch on the handle's (cluster, namespace, kind), once, while someone listens."""
        key = (handle.get("cluster") or "{}", handle["namespace"], handle["api_version"], handle["kind"])
        with self._lock:
            if self._notify is None or key in self._followed:
                return
            self._followed.add(key)
        thread = threading.Thread(
            target=self._watch_loop, args=(key,), name=f"kube-watch-{key[1]}", daemon=True
        )
        thread.start()

    def _watch_loop(self, key: tuple[str, str, str, str]) -> None:
        cluster, namespace, api_version, kind = key
        client = self._client(KubeOptions.model_validate_json(cluster))
        handle = {"api_version": api_version, "kind": kind}
        while True:
            with self._lock:
                notify = self._notify if key in self._followed else None
            if notify is None:
                return
            try:
                for change, obj in client.watch(
                    api_version, kind, namespace, RUN_ID_LABEL, self._watch_seconds
                ):
                    run_id = (obj.get("metadata", {}).get("labels") or {}).get(RUN_ID_LABEL)
                    if run_id and (change == "DELETED" or _mapped(handle, obj, []).state in _ENDED):
                        notify(str(run_id))
            except LaunchqError:
                time.sleep(1.0)  # the API server went away: watch again (polling covers the gap)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pods_of(run: Run) -> str:
    """The label selector of the pods of the run's current attempt (any, for a handle from
    before attempts were labelled: that run had only one)."""
    attempt = run.handle.get("attempt")
    return f"{RUN_ID_LABEL}={run.id}" + (f",{ATTEMPT_LABEL}={attempt}" if attempt is not None else "")


def _mapped(handle: dict[str, str], obj: dict[str, Any], pods: list[dict[str, Any]]) -> TargetStatus:
    if (handle["api_version"], handle["kind"]) == ("batch/v1", "Job"):
        return job_status(obj, pods)
    return custom_status(obj, pods)


def _add_pull_secret(obj: KubeObject, name: str) -> None:
    for _where, template in templates_of(obj.body, obj.is_job):
        pulls = template["spec"].setdefault("imagePullSecrets", [])
        if {"name": name} not in pulls:
            pulls.append({"name": name})


def _main_container(pod: dict[str, Any]) -> str:
    """The container the run is on (launchq's annotation), else the pod's first."""
    named = (pod.get("metadata", {}).get("annotations") or {}).get(MAIN_ANNOTATION)
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return str(named or containers[0].get("name"))
