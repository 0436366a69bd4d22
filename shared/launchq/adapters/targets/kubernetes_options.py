"""The ``launchq`` block of a kubernetes queue config: launchq's own settings, never sent.

``skip_defaults`` opts out of an injected default by its Kubernetes field name;
``main_container`` names the container that gets the run; ``context``, ``in_cluster``,
``eks``, ``gke`` and ``aks`` say which cluster (at most one; none: the kubeconfig's current
context). A managed cloud cluster is reached with that cloud's own credentials, with no
kubeconfig file and no CLI: what the serverless dispatcher has. Each cloud's module
(``kubernetes_eks``, ``kubernetes_gke``, ``kubernetes_aks``) is imported only when its
cluster is used, so a Lambda cold start never loads the Google or Azure SDKs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["CLUSTER_FIELDS", "AksCluster", "Default", "EksCluster", "GkeCluster", "KubeOptions"]

Default = Literal["backoffLimit", "ttlSecondsAfterFinished", "restartPolicy", "securityContext"]

#: The fields that name the cluster: what a run's handle keeps to find its object again.
CLUSTER_FIELDS = frozenset({"context", "in_cluster", "eks", "gke", "aks"})


class EksCluster(BaseModel):
    """An EKS cluster reached with a token presigned from STS (no kubeconfig, no aws CLI)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")

    def key(self) -> str:
        return f"eks:{self.region}:{self.name}"

    def configuration(self) -> Any:
        """The client ``Configuration`` (see ``kubernetes_eks``)."""
        from launchq.adapters.targets.kubernetes_eks import eks_configuration

        return eks_configuration(self.name, self.region)


class GkeCluster(BaseModel):
    """A GKE cluster: endpoint and CA from the GKE API, a token of google-auth's default credentials."""

    model_config = ConfigDict(extra="forbid")

    project: str = Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$", description="project id")
    location: str = Field(pattern=r"^[a-z]+-[a-z]+\d+(-[a-z])?$", description="region or zone")
    cluster: str = Field(pattern=r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")

    def key(self) -> str:
        return f"gke:{self.project}:{self.location}:{self.cluster}"

    def configuration(self) -> Any:
        """The client ``Configuration`` (see ``kubernetes_gke``)."""
        from launchq.adapters.targets.kubernetes_gke import gke_configuration

        return gke_configuration(self)


class AksCluster(BaseModel):
    """An AKS cluster with Microsoft Entra ID: found through ARM (``subscription``,
    ``resource_group``, ``cluster``) or given (``server``, ``ca_data``); the token is
    azure-identity's ``DefaultAzureCredential`` for the AKS server application."""

    model_config = ConfigDict(extra="forbid")

    subscription: str | None = Field(
        default=None, pattern=r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$"
    )
    resource_group: str | None = Field(default=None, pattern=r"^[-\w.()]{0,89}[-\w()]$")
    cluster: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9]([-_a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$")
    server: str | None = Field(
        default=None, pattern=r"^https://[^\s/]+(:\d+)?/?$", description="API server URL"
    )
    ca_data: str | None = Field(default=None, min_length=1, description="the cluster CA, base64 PEM")

    @model_validator(mode="after")
    def _one_way(self) -> AksCluster:
        arm = [self.subscription, self.resource_group, self.cluster]
        given = [self.server, self.ca_data]
        if any(given) and any(arm):
            raise ValueError("give subscription, resource_group and cluster, or server and ca_data, not both")
        if any(given) and not all(given):
            raise ValueError("server and ca_data go together")
        if not any(given) and not all(arm):
            raise ValueError("give subscription, resource_group and cluster (or server and ca_data)")
        return self

    def key(self) -> str:
        if self.server:
            return f"aks:{self.server}"
        return f"aks:{self.subscription}:{self.resource_group}:{self.cluster}"

    def configuration(self) -> Any:
        """The client ``Configuration`` (see ``kubernetes_aks``)."""
        from launchq.adapters.targets.kubernetes_aks import aks_configuration

        return aks_configuration(self)


class KubeOptions(BaseModel):
    """The queue config's ``launchq`` block: launchq's own settings, never sent to Kubernetes."""

    model_config = ConfigDict(extra="forbid")

    skip_defaults: list[Default] = Field(
        default_factory=list, description="defaults the queue opts out of, by their Kubernetes field name"
    )
    main_container: str | None = Field(default=None, description="the container that gets the run")
    context: str | None = Field(default=None, max_length=253, description="kubeconfig context")
    in_cluster: bool = Field(default=False, description="use the pod's service account")
    eks: EksCluster | None = None
    gke: GkeCluster | None = None
    aks: AksCluster | None = None

    @model_validator(mode="after")
    def _one_cluster(self) -> KubeOptions:
        named = [key for key in sorted(CLUSTER_FIELDS) if getattr(self, key)]
        if len(named) > 1:
            raise ValueError(f"name one cluster: {' and '.join(named)} are both given")
        return self

    def injects(self, name: Default) -> bool:
        return name not in self.skip_defaults

    def managed(self) -> EksCluster | GkeCluster | AksCluster | None:
        """The cloud cluster named (EKS, GKE, AKS), if one is: reached without a kubeconfig."""
        return self.eks or self.gke or self.aks

    def cluster_key(self) -> str:
        """Which cluster the run went to, for its handle (later calls go to the same one)."""
        managed = self.managed()
        if managed is not None:
            return managed.key()
        if self.in_cluster:
            return "in-cluster"
        return f"context:{self.context}" if self.context else "kubeconfig"
