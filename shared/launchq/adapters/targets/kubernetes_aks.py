"""AKS credentials for the serverless dispatcher: no kubeconfig, no az CLI, no kubelogin.

The bearer token is a Microsoft Entra access token of azure-identity's
``DefaultAzureCredential`` (environment, workload identity, managed identity, az login)
for the AKS server application ``6dae42f8-4368-4678-94ff-3960e28e3630`` -- the fixed
application id every AKS cluster with Entra integration accepts, the ``--server-id`` of
kubelogin (https://azure.github.io/kubelogin/concepts/aks.html) -- cached per cluster and
refreshed before it expires (``kubernetes_tokens``). The identity needs an AKS RBAC role
(or Kubernetes RBAC bound to it) for the jobs.

The cluster is named either by ARM (``subscription``, ``resource_group``, ``cluster``) or
given (``server``, ``ca_data``). From ARM, over REST (api-version 2024-09-01,
https://learn.microsoft.com/rest/api/aks/managed-clusters): ``managedClusters`` GET gives
the API server's FQDN and whether Entra integration is on (a cluster without it does not
accept these tokens: refused here, not by a 401 later); ``listClusterUserCredential``
gives the user kubeconfig, of which only the certificate authority is read (for an Entra
cluster it holds no secret). The identity needs ``Microsoft.ContainerService/
managedClusters/read`` and ``.../listClusterUserCredential/action`` (the built-in "Azure
Kubernetes Service Cluster User Role").

azure-identity is an optional dependency, imported only here and only when a queue names
an AKS cluster (a clear LaunchFailed says to install it).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import yaml

from launchq.adapters.targets.kubernetes_tokens import (
    OPTIONS_FIELD,
    Token,
    bearer_configuration,
    cloud_json,
    decoded_ca,
)
from launchq.errors import BackendUnavailable, LaunchFailed

if TYPE_CHECKING:
    from launchq.adapters.targets.kubernetes_options import AksCluster

__all__ = ["AKS_SCOPE", "API_VERSION", "ARM", "ARM_SCOPE", "aks_configuration"]

AKS_SCOPE = "6dae42f8-4368-4678-94ff-3960e28e3630/.default"
ARM = "https://management.azure.com"
ARM_SCOPE = "https://management.azure.com/.default"  # the audience, wherever ARM is reached
API_VERSION = "2024-09-01"
_TIMEOUT = 30


@contextmanager
def azure_call(action: str) -> Iterator[None]:
    """azure-identity's and requests' exceptions as launchq's: no credentials, a token endpoint
    or ARM not answering -- all "try again later" (BackendUnavailable)."""
    try:
        import requests  # type: ignore[import-untyped,unused-ignore]
        from azure.core.exceptions import AzureError  # type: ignore[import-not-found,unused-ignore]
    except ImportError as missing:
        raise LaunchFailed(
            f"{action}: an AKS cluster needs azure-identity (pip install azure-identity requests)"
        ) from missing
    try:
        yield
    except AzureError as exc:  # CredentialUnavailableError, ClientAuthenticationError, ...
        raise BackendUnavailable(f"{action}: no usable Azure credentials ({type(exc).__name__})") from exc
    except requests.RequestException as exc:
        raise BackendUnavailable(f"{action}: no answer ({type(exc).__name__})") from exc


def default_credential() -> Any:
    """azure-identity's DefaultAzureCredential (the chain ``az``, workload and managed identity use)."""
    with azure_call("finding Azure credentials"):
        from azure.identity import DefaultAzureCredential  # type: ignore[import-not-found,unused-ignore]

        return DefaultAzureCredential()


def aks_configuration(cluster: AksCluster, *, credential: Any = None, arm: str | None = None) -> Any:
    """A ``kubernetes.client.Configuration`` for the AKS cluster; ``credential`` (an azure-core
    ``TokenCredential``) defaults to DefaultAzureCredential, ``arm`` to Azure's ARM endpoint.

    Raises LaunchFailed (azure-identity missing; no such cluster: field ``launchq.aks.cluster``;
    no Entra integration; access refused), BackendUnavailable (no credentials, no answer).
    """
    credential = credential if credential is not None else default_credential()
    if cluster.server and cluster.ca_data:
        server, ca_data = cluster.server, cluster.ca_data
    else:
        server, ca_data = _from_arm(cluster, credential, arm or ARM)

    def mint() -> Token:
        with azure_call("getting an Entra token for AKS"):
            token = credential.get_token(AKS_SCOPE)
        return Token(str(token.token), float(token.expires_on))

    return bearer_configuration(cluster.key(), server, decoded_ca(ca_data, f"AKS {cluster.key()}"), mint)


def _from_arm(cluster: AksCluster, credential: Any, arm: str) -> tuple[str, str]:
    """The API server URL and CA (base64) of the cluster, from ARM."""
    resource = (
        f"{arm.rstrip('/')}/subscriptions/{cluster.subscription}/resourceGroups/{cluster.resource_group}"
        f"/providers/Microsoft.ContainerService/managedClusters/{cluster.cluster}"
    )
    action = f"ARM managedClusters {cluster.resource_group}/{cluster.cluster}"
    field = f"{OPTIONS_FIELD}.aks.cluster"
    with azure_call(action):
        import requests

        token = credential.get_token(ARM_SCOPE).token
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {token}"
            params = {"api-version": API_VERSION}
            found = cloud_json(session.get(resource, params=params, timeout=_TIMEOUT), action, field)
            properties = found.get("properties") or {}
            if not properties.get("aadProfile"):
                raise LaunchFailed(
                    f"{action}: Microsoft Entra integration is off, so it accepts no Entra tokens "
                    "(az aks update --enable-aad)",
                    field=field,
                )
            listed = session.post(f"{resource}/listClusterUserCredential", params=params, timeout=_TIMEOUT)
            kubeconfigs = cloud_json(listed, f"{action} listClusterUserCredential", field).get("kubeconfigs")
    fqdn = properties.get("fqdn") or properties.get("privateFQDN")
    ca_data = _kubeconfig_ca(kubeconfigs)
    if not (fqdn and ca_data):
        raise LaunchFailed(
            f"{action}: the cluster has no API server yet ({properties.get('provisioningState')})"
        )
    return f"https://{fqdn}:443", ca_data


def _kubeconfig_ca(kubeconfigs: Any) -> str | None:
    """``certificate-authority-data`` of the first cluster of the first kubeconfig (base64
    YAML); nothing else of it is read or kept."""
    try:
        text = base64.b64decode(kubeconfigs[0]["value"])
        clusters = yaml.safe_load(text)["clusters"]
        return str(clusters[0]["cluster"]["certificate-authority-data"])
    except (LookupError, TypeError, ValueError, yaml.YAMLError):
        return None
