"""GKE credentials for the serverless dispatcher: no kubeconfig, no gcloud, no gke-gcloud-auth-plugin.

The cluster's endpoint and CA come from the GKE API (``container.googleapis.com`` v1
``projects.locations.clusters.get``) over REST with google-auth's ``AuthorizedSession`` --
no google-cloud-container package; the bearer token is an access token of google-auth's
default credentials (scope ``cloud-platform``: what the auth plugin sends), cached per
cluster and refreshed before it expires (``kubernetes_tokens``). The identity needs
``container.clusters.get`` on the cluster and Kubernetes RBAC (or IAM) for the jobs.

google-auth is an optional dependency, imported only here and only when a queue names a
GKE cluster (a clear LaunchFailed says to install it). Its errors and the REST answers are
translated at this edge: no credentials or no answer is BackendUnavailable, no such cluster
a LaunchFailed naming ``launchq.gke.cluster``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import TYPE_CHECKING, Any

from launchq.adapters.targets.kubernetes_tokens import (
    MARGIN_SECONDS,
    OPTIONS_FIELD,
    Token,
    bearer_configuration,
    cloud_json,
    decoded_ca,
)
from launchq.errors import BackendUnavailable, LaunchFailed

if TYPE_CHECKING:
    from launchq.adapters.targets.kubernetes_options import GkeCluster

__all__ = ["CONTAINER_API", "SCOPE", "gke_configuration"]

CONTAINER_API = "https://container.googleapis.com/v1"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_TIMEOUT = 30


@contextmanager
def google_call(action: str) -> Iterator[None]:
    """google-auth's and requests' exceptions as launchq's: all of them mean "try again later"
    (no credentials here yet, a token endpoint or the API not answering)."""
    try:
        import google.auth.exceptions  # type: ignore[import-not-found,unused-ignore]
        import requests  # type: ignore[import-untyped,unused-ignore]
    except ImportError as missing:
        raise LaunchFailed(
            f"{action}: a GKE cluster needs google-auth (pip install google-auth requests)"
        ) from missing
    try:
        yield
    except google.auth.exceptions.GoogleAuthError as exc:
        raise BackendUnavailable(f"{action}: no usable Google credentials ({type(exc).__name__})") from exc
    except requests.RequestException as exc:
        raise BackendUnavailable(f"{action}: no answer ({type(exc).__name__})") from exc


def default_credentials() -> Any:
    """google-auth's application default credentials, scoped to cloud-platform."""
    with google_call("finding Google credentials"):
        import google.auth  # type: ignore[import-not-found,unused-ignore]

        credentials, _project = google.auth.default(scopes=[SCOPE])
        return credentials


def gke_configuration(cluster: GkeCluster, *, credentials: Any = None, api: str | None = None) -> Any:
    """A ``kubernetes.client.Configuration`` for the GKE cluster; ``credentials`` (google-auth's)
    default to the application default ones, ``api`` to the GKE API.

    Raises LaunchFailed (google-auth missing; no such cluster: field ``launchq.gke.cluster``;
    access refused), BackendUnavailable (no credentials, no answer).
    """
    credentials = credentials if credentials is not None else default_credentials()
    api = api or CONTAINER_API
    action = f"GKE clusters.get {cluster.project}/{cluster.location}/{cluster.cluster}"
    url = f"{api}/projects/{cluster.project}/locations/{cluster.location}/clusters/{cluster.cluster}"
    with google_call(action):
        from google.auth.transport.requests import AuthorizedSession, Request  # type: ignore[import-not-found,unused-ignore]

        with AuthorizedSession(credentials) as session:
            answer = session.get(url, timeout=_TIMEOUT)
    found = cloud_json(answer, action, f"{OPTIONS_FIELD}.gke.cluster")
    endpoint = found.get("endpoint")
    ca_data = (found.get("masterAuth") or {}).get("clusterCaCertificate")
    if not (endpoint and ca_data):  # a cluster still being provisioned
        raise LaunchFailed(f"{action}: the cluster has no endpoint yet (status {found.get('status')})")

    def mint() -> Token:
        with google_call("refreshing the Google access token"):
            if not credentials.valid or _expires_at(credentials) - MARGIN_SECONDS <= time.time():
                credentials.refresh(Request())
        return Token(str(credentials.token), _expires_at(credentials))

    ca_pem = decoded_ca(str(ca_data), action)
    return bearer_configuration(cluster.key(), f"https://{endpoint}", ca_pem, mint)


def _expires_at(credentials: Any) -> float:
    """google-auth keeps ``expiry`` as a naive UTC datetime; None: a token with no known end."""
    expiry = getattr(credentials, "expiry", None)
    return math.inf if expiry is None else float(expiry.replace(tzinfo=UTC).timestamp())
