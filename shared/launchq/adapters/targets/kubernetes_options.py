"""The ``launchq`` block of a kubernetes queue config: launchq's own settings, never sent.

``skip_defaults`` opts out of an injected default by its Kubernetes field name;
``main_container`` names the container that gets the run; ``context``, ``in_cluster`` and
``eks`` say which cluster (at most one; none: the kubeconfig's current context).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Default", "EksCluster", "KubeOptions"]

Default = Literal["backoffLimit", "ttlSecondsAfterFinished", "restartPolicy", "securityContext"]


class EksCluster(BaseModel):
    """An EKS cluster reached with a token presigned from STS (no kubeconfig, no aws CLI)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")


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

    @model_validator(mode="after")
    def _one_cluster(self) -> KubeOptions:
        named = [key for key in ("context", "in_cluster", "eks") if getattr(self, key)]
        if len(named) > 1:
            raise ValueError(f"name one cluster: {' and '.join(named)} are both given")
        return self

    def injects(self, name: Default) -> bool:
        return name not in self.skip_defaults

    def cluster_key(self) -> str:
        """Which cluster the run went to, for its handle (later calls go to the same one)."""
        if self.eks is not None:
            return f"eks:{self.eks.region}:{self.eks.name}"
        if self.in_cluster:
            return "in-cluster"
        return f"context:{self.context}" if self.context else "kubeconfig"
