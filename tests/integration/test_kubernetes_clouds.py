"""GKE and AKS clusters with no kubeconfig, no gcloud, az or kubelogin (EKS: ``test_kubernetes_eks_cluster``).

Each cloud is tested at its client boundary: GKE's and ARM's REST APIs against small HTTP
stand-ins (``tests/kube_clouds.py``), google-auth and azure-identity with injected credential
objects. The Kubernetes API stand-in in front answers 401 unless the request bears the
cloud's token, so every request the kubernetes client made -- discovery, create, get, list,
watch -- is shown to carry it. For GKE and AKS (server given) it also serves TLS with its own
CA, which launchq must have taken from the cloud: a client that trusts anything else cannot
connect. An AKS cluster found through ARM has a ``*.azmk8s.io`` name, so there the client
is pointed at the stand-in after the endpoint and CA it was given are checked.
"""

from __future__ import annotations

import base64
import datetime
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.core.credentials import AccessToken
from azure.identity import CredentialUnavailableError
from google.oauth2.credentials import Credentials as GoogleCredentials

from launchq.adapters.targets import kubernetes_aks, kubernetes_gke
from launchq.adapters.targets.kubernetes import KubernetesTarget
from launchq.adapters.targets.kubernetes_options import AksCluster, GkeCluster
from launchq.adapters.targets.kubernetes_tokens import TOKENS
from launchq.errors import BackendUnavailable, LaunchFailed
from tests.integration.test_kubernetes_target import launch, make_run
from tests.kube_clouds import (
    CloudApi,
    Tls,
    fresh_tokens,  # noqa: F401 - autouse: each test starts with no cached token
    guarded_kube,
    repointed,
    run_to_the_end,
    self_signed,
)

SUBSCRIPTION = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
GKE = {"project": "ml-platform-42", "location": "europe-west4", "cluster": "training"}
GKE_PATH = "/v1/projects/ml-platform-42/locations/europe-west4/clusters/training"
ARM_PATH = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/ml-rg"
    "/providers/Microsoft.ContainerService/managedClusters/training"
)
AKS_FQDN = "training-dns-4f2a.hcp.westeurope.azmk8s.io"


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    return self_signed(tmp_path, "cluster")


# -- GKE ----------------------------------------------------------------------------------
class RefreshingGoogleCredentials(GoogleCredentials):  # type: ignore[misc]
    """google-auth's user credentials whose refresh hands out the next numbered token for an
    hour (a refresh against Google's token endpoint cannot happen here)."""

    def refresh(self, request: Any) -> None:
        number = int(str(self.token).rsplit("-", 1)[1]) + 1
        self.token = f"gcp-token-{number}"
        self.expiry = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(hours=1)


def gke_answer(endpoint: str, ca_data: str) -> dict[str, Any]:
    return {
        "name": "training",
        "endpoint": endpoint,
        "masterAuth": {"clusterCaCertificate": ca_data},
        "status": "RUNNING",
    }


@pytest.fixture
def google_credentials(monkeypatch: pytest.MonkeyPatch) -> RefreshingGoogleCredentials:
    """google-auth's default credentials, as the process would find them, hold gcp-token-1."""
    expiry = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(hours=1)
    credentials = RefreshingGoogleCredentials(token="gcp-token-1", expiry=expiry)
    monkeypatch.setattr(kubernetes_gke, "default_credentials", lambda: credentials)
    return credentials


def test_a_gke_queue_runs_on_the_endpoint_and_ca_from_the_gke_api_with_a_google_token(
    monkeypatch: pytest.MonkeyPatch, tls: Tls, google_credentials: RefreshingGoogleCredentials
) -> None:
    # GIVEN a cluster serving TLS with its own CA, accepting only the Google access token
    with guarded_kube(monkeypatch, lambda header: header == "Bearer gcp-token-1", tls) as kube:
        endpoint = kube.url.removeprefix("https://")  # GKE gives a bare address: launchq adds https
        routes = {("GET", GKE_PATH): (200, gke_answer(endpoint, tls.ca_data))}
        with CloudApi(routes) as gke:
            monkeypatch.setattr(kubernetes_gke, "CONTAINER_API", f"{gke.url}/v1")
            # WHEN a queue names the GKE cluster, through launchq's own clients (nothing injected)
            run_to_the_end(kube, KubernetesTarget(watch_seconds=2), {"gke": GKE})
    # THEN the GKE API was asked with the same credentials (AuthorizedSession), once per client
    assert {(method, path, auth) for method, path, _, auth in gke.requests} == {
        ("GET", GKE_PATH, "Bearer gcp-token-1")
    }
    assert set(kube.authorizations) == {"Bearer gcp-token-1"}


def test_a_gke_cluster_whose_certificate_is_not_the_one_gke_gave_is_not_trusted(
    monkeypatch: pytest.MonkeyPatch, tls: Tls, tmp_path: Path, google_credentials: RefreshingGoogleCredentials
) -> None:
    other = self_signed(tmp_path, "impostor")
    with guarded_kube(monkeypatch, lambda header: True, tls) as kube:
        routes = {("GET", GKE_PATH): (200, gke_answer(kube.url.removeprefix("https://"), other.ca_data))}
        with CloudApi(routes) as gke:
            monkeypatch.setattr(kubernetes_gke, "CONTAINER_API", f"{gke.url}/v1")
            with pytest.raises(BackendUnavailable, match="did not answer"):
                KubernetesTarget().submit(make_run({"launchq": {"gke": GKE}}))
    assert kube.authorizations == []  # no request got past the TLS handshake
    assert kube.api.kinds("jobs") == []


def test_the_google_token_is_refreshed_when_it_is_about_to_expire(
    monkeypatch: pytest.MonkeyPatch, google_credentials: RefreshingGoogleCredentials
) -> None:
    accepted = {"Bearer gcp-token-1"}
    with guarded_kube(monkeypatch, accepted.__contains__) as kube:
        routes = {("GET", GKE_PATH): (200, gke_answer("10.0.0.2", base64.b64encode(b"ca").decode()))}
        with CloudApi(routes) as gke:
            monkeypatch.setattr(kubernetes_gke, "CONTAINER_API", f"{gke.url}/v1")
            target = KubernetesTarget(repointed(kube.url, lambda c: assert_host(c, "https://10.0.0.2")))
            run = launch(target, make_run({"launchq": {"gke": GKE}}))
            # WHEN 58 minutes have passed: the token has two left, and the cluster takes only a new one
            ends = google_credentials.expiry.replace(tzinfo=datetime.UTC).timestamp()
            monkeypatch.setattr(TOKENS, "_clock", lambda: ends - 120)
            google_credentials.expiry = utcnow() + datetime.timedelta(minutes=2)
            accepted.clear()
            accepted.add("Bearer gcp-token-2")
            # THEN the next request carries the refreshed token, and is answered
            assert target.status(run).state == "starting"
    assert kube.authorizations[-1] == "Bearer gcp-token-2"
    assert "Bearer gcp-token-1" in kube.authorizations


def test_a_gke_cluster_that_does_not_exist_or_is_refused_or_down_is_told_apart(
    google_credentials: RefreshingGoogleCredentials,
) -> None:
    missing = {"error": {"code": 404, "message": "Not found: projects/ml-platform-42/.../training."}}
    denied = {"error": {"code": 403, "message": "Required 'container.clusters.get' permission"}}
    for status, body, error, field in [
        (404, missing, LaunchFailed, "resource_args.kubernetes.launchq.gke.cluster"),
        (403, denied, LaunchFailed, None),
        (503, {"error": {"code": 503, "message": "try later"}}, BackendUnavailable, None),
    ]:
        with CloudApi({("GET", GKE_PATH): (status, body)}) as gke, pytest.raises(error) as caught:
            kubernetes_gke.gke_configuration(GkeCluster(**GKE), api=f"{gke.url}/v1")
        assert caught.value.field == field
        assert f"{status} {body['error']['message']}" in str(caught.value)


def test_no_google_credentials_is_backend_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(BackendUnavailable, match=r"no usable Google credentials \(DefaultCredentialsError"):
        KubernetesTarget().submit(make_run({"launchq": {"gke": GKE}}))


def test_without_google_auth_a_gke_queue_fails_saying_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "google.auth.exceptions", None)
    with pytest.raises(LaunchFailed, match=r"needs google-auth \(pip install google-auth"):
        KubernetesTarget().submit(make_run({"launchq": {"gke": GKE}}))


def utcnow() -> datetime.datetime:
    """google-auth's clock: naive UTC."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def assert_host(configuration: Any, host: str) -> None:
    assert configuration.host == host


# -- AKS ----------------------------------------------------------------------------------
class StubAzureCredential:
    """An azure-core TokenCredential: a token per scope, each asked scope kept."""

    def __init__(self, error: Exception | None = None) -> None:
        self.scopes: list[str] = []
        self.error = error

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.extend(scopes)
        if self.error is not None:
            raise self.error
        name = "aks" if scopes == (kubernetes_aks.AKS_SCOPE,) else "arm"
        return AccessToken(f"{name}-token", int(datetime.datetime.now(datetime.UTC).timestamp()) + 3600)


def user_kubeconfig(ca_data: str) -> str:
    """What listClusterUserCredential returns for an Entra cluster: an exec (kubelogin) kubeconfig."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "training",
                "cluster": {"server": f"https://{AKS_FQDN}:443", "certificate-authority-data": ca_data},
            }
        ],
        "users": [{"name": "clusterUser", "user": {"exec": {"command": "kubelogin", "args": ["get-token"]}}}],
        "contexts": [{"name": "training", "context": {"cluster": "training", "user": "clusterUser"}}],
        "current-context": "training",
    }
    return base64.b64encode(yaml.safe_dump(config).encode()).decode()


def arm_routes(ca_data: str, aad: bool = True) -> dict[tuple[str, str], tuple[int, dict[str, Any]]]:
    properties: dict[str, Any] = {"fqdn": AKS_FQDN, "provisioningState": "Succeeded"}
    if aad:
        properties["aadProfile"] = {"managed": True, "enableAzureRBAC": True}
    return {
        ("GET", ARM_PATH): (200, {"name": "training", "properties": properties}),
        ("POST", f"{ARM_PATH}/listClusterUserCredential"): (
            200,
            {"kubeconfigs": [{"name": "clusterUser", "value": user_kubeconfig(ca_data)}]},
        ),
    }


@pytest.fixture
def azure_credential(monkeypatch: pytest.MonkeyPatch) -> StubAzureCredential:
    credential = StubAzureCredential()
    monkeypatch.setattr(kubernetes_aks, "default_credential", lambda: credential)
    return credential


def test_an_aks_queue_found_through_arm_runs_with_an_entra_token_for_the_aks_server_app(
    monkeypatch: pytest.MonkeyPatch, tls: Tls, azure_credential: StubAzureCredential
) -> None:
    def checks(configuration: Any) -> None:
        # THEN the server is the cluster's FQDN from ARM, and its CA the user kubeconfig's
        assert configuration.host == f"https://{AKS_FQDN}:443"
        assert Path(configuration.ssl_ca_cert).read_bytes() == tls.cert.read_bytes()

    # GIVEN an Entra-enabled AKS cluster known to ARM, accepting only the AKS-scoped token
    with (
        guarded_kube(monkeypatch, lambda header: header == "Bearer aks-token") as kube,
        CloudApi(arm_routes(tls.ca_data)) as arm,
    ):
        monkeypatch.setattr(kubernetes_aks, "ARM", arm.url)
        # WHEN a queue names it by subscription, resource group and name
        target = KubernetesTarget(repointed(kube.url, checks), watch_seconds=2)
        aks = {"subscription": SUBSCRIPTION, "resource_group": "ml-rg", "cluster": "training"}
        run_to_the_end(kube, target, {"aks": aks})
    # AND ARM was asked with an ARM token, at the cited api-version, once by each dispatcher (the
    # restarted one too); the cluster with the AKS one
    assert [(m, p, q["api-version"], a) for m, p, q, a in arm.requests] == 2 * [
        ("GET", ARM_PATH, "2024-09-01", "Bearer arm-token"),
        ("POST", f"{ARM_PATH}/listClusterUserCredential", "2024-09-01", "Bearer arm-token"),
    ]
    assert "6dae42f8-4368-4678-94ff-3960e28e3630/.default" in azure_credential.scopes
    assert "https://management.azure.com/.default" in azure_credential.scopes
    assert set(kube.authorizations) == {"Bearer aks-token"}


def test_an_aks_queue_giving_server_and_ca_reaches_it_over_tls_without_arm(
    monkeypatch: pytest.MonkeyPatch, tls: Tls, azure_credential: StubAzureCredential
) -> None:
    with guarded_kube(monkeypatch, lambda header: header == "Bearer aks-token", tls) as kube:
        monkeypatch.setattr(kubernetes_aks, "ARM", "http://127.0.0.1:9")  # nothing there: must not be asked
        run_to_the_end(
            kube, KubernetesTarget(watch_seconds=2), {"aks": {"server": kube.url, "ca_data": tls.ca_data}}
        )
    assert azure_credential.scopes  # a token was asked for
    assert set(azure_credential.scopes) == {kubernetes_aks.AKS_SCOPE}  # and only the cluster's


def test_an_aks_cluster_without_entra_integration_or_missing_is_a_launch_failure_naming_it(
    azure_credential: StubAzureCredential,
) -> None:
    aks = AksCluster(subscription=SUBSCRIPTION, resource_group="ml-rg", cluster="training")
    with CloudApi(arm_routes("Y2E=", aad=False)) as arm, pytest.raises(LaunchFailed, match="Entra") as off:
        kubernetes_aks.aks_configuration(aks, credential=azure_credential, arm=arm.url)
    with CloudApi({}) as arm, pytest.raises(LaunchFailed, match="404") as missing:
        kubernetes_aks.aks_configuration(aks, credential=azure_credential, arm=arm.url)
    for caught in (off, missing):
        assert caught.value.field == "resource_args.kubernetes.launchq.aks.cluster"


def test_no_azure_credentials_is_backend_unavailable() -> None:
    credential = StubAzureCredential(CredentialUnavailableError("DefaultAzureCredential failed"))
    aks = AksCluster(server="https://training.hcp.westeurope.azmk8s.io:443", ca_data="Y2E=")
    with pytest.raises(BackendUnavailable, match=r"no usable Azure credentials \(CredentialUnavailableError"):
        kubernetes_aks.aks_configuration(aks, credential=credential)


def test_without_azure_identity_an_aks_queue_fails_saying_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "azure.core.exceptions", None)
    aks = {"server": "https://training.hcp.westeurope.azmk8s.io:443", "ca_data": "Y2E="}
    with pytest.raises(LaunchFailed, match=r"needs azure-identity \(pip install azure-identity"):
        KubernetesTarget().submit(make_run({"launchq": {"aks": aks}}))
