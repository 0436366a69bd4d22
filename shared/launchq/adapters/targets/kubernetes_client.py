"""launchq's one edge to the Kubernetes API: clients per cluster, calls, error translation.

Why the official ``kubernetes`` client (36.x) rather than lightkube or kr8s:

- API discovery: its ``DynamicClient`` reads ``/api`` and ``/apis/<group>/<version>``,
  so a custom resource's plural and whether it is namespaced come from the cluster
  (``PyTorchJob`` -> ``pytorchjobs``, namespaced), never from appending "s". lightkube
  needs the plural up front (or cluster-wide read of CRDs); kr8s discovers, but is young
  and asyncio underneath.
- Watches, the kubeconfig/context and in-cluster loaders, and a refresh hook for
  short-lived bearer tokens (EKS) are all there, and maintained by Kubernetes' SIG API
  Machinery; W&B's own agent uses this client, so behaviour questions have one answer.
- Costs, stated: it is untyped (its objects stay ``Any`` inside this module: only plain
  dicts and launchq's errors leave it) and about 40 MB unpacked (36.x; 37.x doubles it
  with an asyncio copy and needs python-dateutil 3, which botocore refuses) -- within the
  Lambda layer's 250 MB, which holds no boto3 of its own.

Every call goes through ``kube_call``: 404 is NotFound, 409 AlreadyExists, a refusal
(400, 401, 403, 422, a kind the cluster does not serve) the caller's ``refused`` error
(LaunchFailed at submit), anything else -- 5xx, 429, no answer, no credentials --
BackendUnavailable. Details carry the API server's ``Status`` message, never a request body.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from launchq.adapters.targets.kubernetes_options import KubeOptions
from launchq.errors import AlreadyExists, BackendUnavailable, LaunchqError, NotFound

__all__ = ["ClientFactory", "ClusterClient", "kube_call"]

Refused = Callable[[str], LaunchqError]
# Builds an ApiClient for a cluster (tests pass one that points at the stand-in).
ClientFactory = Callable[[KubeOptions], Any]
FOREGROUND = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}


def _status_message(exc: Any) -> str:
    """The API server's Status message of an ApiException (its body), else its reason."""
    body = getattr(exc, "body", None)
    try:
        message = json.loads(body).get("message") if body else None
    except (ValueError, AttributeError):
        message = None
    return str(message or getattr(exc, "reason", "") or exc)


@contextmanager
def kube_call(action: str, refused: Refused = BackendUnavailable) -> Iterator[None]:
    """Turn the client's exceptions into launchq's errors (see the module docstring)."""
    try:
        from kubernetes.client.exceptions import ApiException  # type: ignore[import-untyped]
        from kubernetes.config.config_exception import ConfigException  # type: ignore[import-untyped]
        from kubernetes.dynamic.exceptions import (  # type: ignore[import-untyped]
            DynamicApiError,
            ResourceNotFoundError,
        )
        from urllib3.exceptions import HTTPError
    except ImportError as missing:  # the wiring offers the target only with the SDK; say so if not
        raise BackendUnavailable(f"{action}: the kubernetes client is not installed") from missing

    try:
        yield
    except ResourceNotFoundError as exc:
        raise refused(f"{action}: the cluster does not serve it ({exc})") from exc
    except (ApiException, DynamicApiError) as exc:
        status = int(getattr(exc, "status", 0) or 0)
        detail = f"{action}: {status} {_status_message(exc)}"
        if status == 404:
            raise NotFound(detail) from exc
        if status == 409:
            raise AlreadyExists(detail) from exc
        if status in (400, 401, 403, 422):
            raise refused(detail) from exc
        raise BackendUnavailable(detail) from exc
    except ConfigException as exc:  # no kubeconfig, no such context: nothing a retry mends
        raise refused(f"{action}: no cluster credentials ({exc})") from exc
    except (HTTPError, OSError) as exc:
        raise BackendUnavailable(f"{action}: the API server did not answer ({type(exc).__name__})") from exc


def _kubeconfig() -> str | None:
    """``KUBECONFIG`` as it is now (the client reads it once, at import), else the client's default."""
    return os.environ.get("KUBECONFIG") or None


def default_api_client(options: KubeOptions) -> Any:
    """An ApiClient for the cluster ``options`` name: a managed cloud cluster (EKS, GKE, AKS:
    see ``kubernetes_options``), the pod's service account (``in_cluster``), or a kubeconfig
    context (the current one)."""
    from kubernetes import client, config  # type: ignore[import-untyped]

    managed = options.managed()
    if managed is not None:
        return client.ApiClient(managed.configuration())
    if options.in_cluster:
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return client.ApiClient(configuration)
    return config.new_client_from_config(config_file=_kubeconfig(), context=options.context)


def context_namespace(options: KubeOptions) -> str | None:
    """The namespace of the kubeconfig context (or of the pod, in-cluster), if it names one."""
    if options.managed() is not None:
        return None
    if options.in_cluster:
        try:
            with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace", encoding="utf-8") as handle:
                return handle.read().strip() or None
        except OSError:
            return None
    from kubernetes import config

    try:
        listed, current = config.list_kube_config_contexts(config_file=_kubeconfig())
    except (config.ConfigException, OSError):
        return None  # no kubeconfig: connecting says so, with the client's words
    chosen = next((c for c in listed if c.get("name") == options.context), current) or {}
    namespace = (chosen.get("context") or {}).get("namespace")
    return str(namespace) if namespace else None


class ClusterClient:
    """Calls on one cluster, with plain dicts in and out. Discovery is done once per client."""

    def __init__(self, api_client: Any) -> None:
        self._api = api_client
        self._dynamic: Any = None
        self._lock = threading.Lock()

    def _resources(self, api_version: str, kind: str) -> Any:
        from kubernetes.dynamic import DynamicClient  # type: ignore[import-untyped]

        with self._lock:
            if self._dynamic is None:
                # A discovery cache of this client's own: the default file is shared by every
                # process on the host and outlives them (a kind installed since would be missed).
                cache = os.path.join(tempfile.gettempdir(), f"launchq-kube-discovery-{uuid.uuid4().hex}.json")
                self._dynamic = DynamicClient(self._api, cache_file=cache)
            return self._dynamic.resources.get(api_version=api_version, kind=kind)

    def create(
        self, api_version: str, kind: str, namespace: str, body: dict[str, Any], refused: Refused
    ) -> dict[str, Any]:
        with kube_call(f"create {kind}", refused):
            created = self._resources(api_version, kind).create(body=body, namespace=namespace)
            return dict(created.to_dict())

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any]:
        with kube_call(f"get {kind} {name}"):
            return dict(self._resources(api_version, kind).get(name=name, namespace=namespace).to_dict())

    def list(self, api_version: str, kind: str, namespace: str, **selectors: str) -> list[dict[str, Any]]:
        with kube_call(f"list {kind}"):
            found = self._resources(api_version, kind).get(namespace=namespace, **selectors)
            return [dict(item) for item in found.to_dict().get("items") or []]

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        with kube_call(f"delete {kind} {name}"):
            self._resources(api_version, kind).delete(name=name, namespace=namespace, body=FOREGROUND)

    def patch(self, api_version: str, kind: str, namespace: str, name: str, body: dict[str, Any]) -> None:
        with kube_call(f"patch {kind} {name}"):
            self._resources(api_version, kind).patch(
                name=name, namespace=namespace, body=body, content_type="application/merge-patch+json"
            )

    def pod_log(self, namespace: str, pod: str, container: str) -> str:
        from kubernetes import client

        with kube_call(f"log of pod {pod}"):
            # Unparsed: the client would otherwise turn the bytes into their repr.
            answer = client.CoreV1Api(self._api).read_namespaced_pod_log(
                pod, namespace, container=container, _preload_content=False
            )
            return bytes(answer.data).decode("utf-8", errors="replace")

    def watch(
        self, api_version: str, kind: str, namespace: str, label_selector: str, timeout: int
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(event type, object) of the objects matching ``label_selector`` for up to ``timeout`` s."""
        with kube_call(f"watch {kind}"):
            resource = self._resources(api_version, kind)
            for event in self._dynamic.watch(
                resource, namespace=namespace, label_selector=label_selector, timeout=timeout
            ):
                yield str(event["type"]), dict(event["raw_object"])
