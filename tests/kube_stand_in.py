"""A small Kubernetes API stand-in: a real HTTP server on 127.0.0.1 serving only what launchq calls.

No kube-apiserver can run here (no package ships one), so the target's client path is
tested against this: the official ``kubernetes`` client talks to it over HTTP exactly as
it would to a cluster. It serves

- discovery: ``/version``, ``/api``, ``/apis``, and the resource lists of ``v1`` (pods,
  pods/log, secrets, events), ``batch/v1`` (jobs) and ``kubeflow.org/v1`` (pytorchjobs),
  each with its plural and ``namespaced``, as a real server lists them;
- create, get, list (``labelSelector``: ``k=v``, ``k``; ``fieldSelector``:
  ``metadata.name=``, ``involvedObject.name=``), watch (``?watch=true``: the matching
  objects as ADDED, then every change until ``timeoutSeconds``), JSON merge patch, and
  delete (``propagationPolicy: Foreground`` deletes dependents first; secrets owned by a
  deleted object are garbage-collected), and pod logs;
- refusals as the API server words them: 422 ``Invalid`` with a ``Status`` body for an
  object the official schemas refuse (``kubernetes-validate --strict``, Kubernetes 1.31;
  for a custom resource, each of its pod templates) or a name that is not an RFC 1123
  label, 409 ``AlreadyExists``, 404 ``NotFound``, 400 for a log of a multi-container pod
  without ``container``.

A few lines of "controller" stand in for the Job controller and the kubelet: a Job gets
pods (up to its parallelism, until ``completions`` succeed), its ``active``/``succeeded``/
``failed`` counts and its ``Complete``/``Failed`` condition (with the controller's
``Completed``/``BackoffLimitExceeded`` event); a PyTorchJob gets one pod per replica.
Tests move pods (``set_pod``: phase, conditions, log) and custom resources
(``set_status``); nothing moves by itself.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from tests.kube_stand_in_http import handler
from tests.kube_stand_in_objects import ApiError, Key, matches, merge, now, validate
from tests.loopback_http import LoopbackServer


class KubeStandIn:
    """The stand-in's state and its server. ``with KubeStandIn() as api: api.url``."""

    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.logs: dict[tuple[str, str, str], str] = {}  # (namespace, pod, container) -> text
        self.requests: list[tuple[str, str]] = []
        self._changes: list[tuple[int, str, Key, dict[str, Any]]] = []
        self._version = 0
        self._cond = threading.Condition()
        self._closing = False
        self._server = LoopbackServer(handler(self))

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> KubeStandIn:
        self._server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._server.__exit__(None, None, None)

    # -- what tests use ---------------------------------------------------------------------
    def kinds(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return [
                json.loads(json.dumps(obj))
                for (_, p, ns, _n), obj in sorted(self.objects.items())
                if p == plural and namespace in (None, ns)
            ]

    def one(self, plural: str, name: str, namespace: str = "default") -> dict[str, Any] | None:
        with self._cond:
            found = [
                obj for (_, p, ns, n), obj in self.objects.items() if (p, ns, n) == (plural, namespace, name)
            ]
            return json.loads(json.dumps(found[0])) if found else None

    def pods(self, run_id: str) -> list[dict[str, Any]]:
        return [
            pod for pod in self.kinds("pods") if pod["metadata"]["labels"].get("launchq.io/run-id") == run_id
        ]

    def set_pod(
        self,
        name: str,
        namespace: str = "default",
        *,
        log: str | None = None,
        container: str | None = None,
        **status: Any,
    ) -> None:
        """Move a pod (its ``status`` fields: phase, conditions, reason, ...) and let the Job react."""
        with self._cond:
            key = ("v1", "pods", namespace, name)
            pod = self.objects[key]
            pod["status"].update(status)
            if log is not None:
                container = container or pod["spec"]["containers"][0]["name"]
                self.logs[(namespace, name, container)] = log
            self._changed("MODIFIED", key)
            self._reconcile_owner(pod)

    def set_status(self, plural: str, name: str, status: dict[str, Any], namespace: str = "default") -> None:
        with self._cond:
            key = next(k for k in self.objects if k[1:] == (plural, namespace, name))
            self.objects[key]["status"] = status
            self._changed("MODIFIED", key)

    def advance(self, run_id: str) -> None:
        """One step of every pod of the run: Pending -> Running -> Succeeded (the contract's drive)."""
        for pod in self.pods(run_id):
            phase = pod["status"].get("phase")
            following = {"Pending": "Running", "Running": "Succeeded"}.get(phase)
            if following:
                self.set_pod(
                    pod["metadata"]["name"],
                    pod["metadata"]["namespace"],
                    phase=following,
                    log=f"hello from {pod['metadata']['name']}\n",
                )

    # -- the server's work -----------------------------------------------------------------
    def _changed(self, kind: str, key: Key, gone: dict[str, Any] | None = None) -> None:
        self._version += 1
        obj = self.objects.get(key, gone)
        if obj is not None:
            obj["metadata"]["resourceVersion"] = str(self._version)
        self._changes.append((self._version, kind, key, json.loads(json.dumps(obj or {}))))
        self._cond.notify_all()

    def create(self, api_version: str, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        kind = body.get("kind", "")
        meta = body.setdefault("metadata", {})
        if meta.setdefault("namespace", namespace) != namespace:
            raise ApiError(
                400, "BadRequest", "the namespace of the object does not match the namespace on the request"
            )
        validate(kind, body)
        with self._cond:
            key = (api_version, plural, namespace, meta["name"])
            if key in self.objects:
                raise ApiError(
                    409, "AlreadyExists", f'{plural}.{api_version} "{meta["name"]}" already exists'
                )
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=now())
            body.setdefault("status", {})
            self.objects[key] = body
            self._changed("ADDED", key)
            if kind == "Job":
                self._reconcile_job(key)
            elif kind == "PyTorchJob":
                self._pytorch_pods(body)
            return body

    def _new_pod(self, owner: dict[str, Any], template: dict[str, Any], name: str) -> None:
        meta = owner["metadata"]
        labels = {**(template.get("metadata", {}).get("labels") or {}), "job-name": meta["name"]}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": labels,
                "annotations": dict(template.get("metadata", {}).get("annotations") or {}),
                "ownerReferences": [
                    {
                        "apiVersion": owner["apiVersion"],
                        "kind": owner["kind"],
                        "name": meta["name"],
                        "uid": meta["uid"],
                    }
                ],
            },
            "spec": json.loads(json.dumps(template.get("spec") or {})),
            "status": {"phase": "Pending"},
        }
        validate("Pod", pod)
        key = ("v1", "pods", meta["namespace"], name)
        self.objects[key] = pod
        self._changed("ADDED", key)

    def _pytorch_pods(self, job: dict[str, Any]) -> None:
        for role, replica in (job["spec"].get("pytorchReplicaSpecs") or {}).items():
            for index in range(int(replica.get("replicas", 1))):
                self._new_pod(job, replica["template"], f"{job['metadata']['name']}-{role.lower()}-{index}")

    def _owned_by(self, uid: str) -> list[Key]:
        return [
            key
            for key, obj in self.objects.items()
            if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])
        ]

    def _reconcile_owner(self, pod: dict[str, Any]) -> None:
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref["kind"] == "Job":
                self._reconcile_job(("batch/v1", "jobs", pod["metadata"]["namespace"], ref["name"]))

    def _job_event(self, job: dict[str, Any], reason: str, message: str) -> None:
        meta = job["metadata"]
        event_name = f"{meta['name']}.{uuid.uuid4().hex[:8]}"
        key = ("v1", "events", meta["namespace"], event_name)
        self.objects[key] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": event_name, "namespace": meta["namespace"]},
            "involvedObject": {
                "kind": "Job",
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "reason": reason,
            "message": message,
            "type": "Normal" if reason == "Completed" else "Warning",
        }
        self._changed("ADDED", key)

    def _reconcile_job(self, key: Key) -> None:
        """The Job controller, in a few lines: pods up to parallelism, counts, a final condition."""
        job = self.objects.get(key)
        if job is None or job["status"].get("conditions"):
            return
        spec, meta = job["spec"], job["metadata"]
        pods = [self.objects[k] for k in self._owned_by(meta["uid"]) if k[1] == "pods"]
        phases = [pod["status"].get("phase") for pod in pods]
        succeeded, failed = phases.count("Succeeded"), phases.count("Failed")
        active = len(pods) - succeeded - failed
        completions = int(spec.get("completions") or 1)
        status = job["status"]
        if failed > int(spec.get("backoffLimit", 6)):
            status["conditions"] = [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                }
            ]
            self._job_event(job, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif succeeded >= completions:
            status["conditions"] = [{"type": "Complete", "status": "True"}]
            self._job_event(job, "Completed", "Job completed")
        elif not spec.get("suspend"):
            wanted = min(int(spec.get("parallelism") or 1), completions - succeeded) - active
            for index in range(max(wanted, 0)):
                self._new_pod(job, spec["template"], f"{meta['name']}-{len(pods) + index}")
            active += max(wanted, 0)
        status.update(
            active=active if not status.get("conditions") else 0, succeeded=succeeded, failed=failed
        )
        self._changed("MODIFIED", key)

    def get(self, key: Key) -> dict[str, Any]:
        with self._cond:
            if key not in self.objects:
                raise ApiError(404, "NotFound", f'{key[1]} "{key[3]}" not found')
            return json.loads(json.dumps(self.objects[key]))

    def patch(self, key: Key, body: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386)."""
        with self._cond:
            if key not in self.objects:
                raise ApiError(404, "NotFound", f'{key[1]} "{key[3]}" not found')
            merge(self.objects[key], body)
            self._changed("MODIFIED", key)
            return json.loads(json.dumps(self.objects[key]))

    def delete(self, key: Key, options: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            obj = self.objects.get(key)
            if obj is None:
                raise ApiError(404, "NotFound", f'{key[1]} "{key[3]}" not found')
            if options.get("propagationPolicy") == "Foreground":
                obj["metadata"]["deletionTimestamp"] = now()
                obj["metadata"]["finalizers"] = ["foregroundDeletion"]
                self._changed("MODIFIED", key)
            for dependent in self._owned_by(obj["metadata"]["uid"]):  # pods first, then owned secrets
                self._changed("DELETED", dependent, self.objects.pop(dependent))
            self._changed("DELETED", key, self.objects.pop(key))
            return obj

    def list(
        self, api_version: str, plural: str, namespace: str, labels: str, fields: str
    ) -> tuple[list[dict[str, Any]], int]:
        with self._cond:
            items = [
                json.loads(json.dumps(obj))
                for (av, p, ns, _), obj in sorted(self.objects.items())
                if (av, p, ns) == (api_version, plural, namespace) and matches(obj, labels, fields)
            ]
            return items, self._version

    def watch(
        self, api_version: str, plural: str, namespace: str, labels: str, fields: str, timeout: float
    ) -> Iterator[dict[str, Any]]:
        items, seen = self.list(api_version, plural, namespace, labels, fields)
        for item in items:
            yield {"type": "ADDED", "object": item}
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                while not self._closing and time.monotonic() < deadline and self._version <= seen:
                    self._cond.wait(min(0.2, max(deadline - time.monotonic(), 0.01)))
                if self._closing or time.monotonic() >= deadline:
                    return
                fresh = [change for change in self._changes if change[0] > seen]
                seen = fresh[-1][0]
            for _, kind, key, obj in fresh:
                if key[:3] == (api_version, plural, namespace) and matches(obj, labels, fields):
                    yield {"type": kind, "object": obj}


def client_factory(url: str) -> Callable[[Any], Any]:
    """The target's ``api_client`` factory, pointed at a stand-in (any cluster options)."""
    from kubernetes import client

    def make(_options: Any) -> Any:
        return client.ApiClient(client.Configuration(host=url))

    return make
