"""EKS credentials for the serverless dispatcher: no kubeconfig file, no ``aws`` CLI.

EKS accepts as a bearer token a presigned STS ``GetCallerIdentity`` URL whose signed
headers include ``x-k8s-aws-id: <cluster name>`` (the aws-iam-authenticator scheme, what
``aws eks get-token`` prints): ``k8s-aws-v1.`` followed by the URL in unpadded base64url.
The URL is presigned for 60 seconds and EKS accepts it for 15 minutes from signing;
``eks_configuration`` asks for a fresh one before each request through the client's
``refresh_api_key_hook``, so a dispatcher that lives longer never sends a stale token.

The cluster's endpoint and certificate authority come from EKS ``DescribeCluster``. All
AWS calls go through ``launchq.adapters.aws_sdk``, the one AWS SDK edge.
"""

from __future__ import annotations

import base64
import tempfile
import time
from typing import Any

from launchq.adapters import aws_sdk
from launchq.errors import NotFound

__all__ = ["CLUSTER_HEADER", "TOKEN_PREFIX", "eks_configuration", "eks_token"]

CLUSTER_HEADER = "x-k8s-aws-id"
TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - the scheme's name, not a secret
PRESIGN_SECONDS = 60
REFRESH_AFTER_SECONDS = 600  # well inside EKS's 15 minutes


def eks_token(cluster: str, region: str) -> str:
    """A bearer token for EKS cluster ``cluster`` in ``region``. Raises BackendUnavailable."""
    url = aws_sdk.presign_sts_caller_identity(region, {CLUSTER_HEADER: cluster}, PRESIGN_SECONDS)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def eks_configuration(cluster: str, region: str) -> Any:
    """A ``kubernetes.client.Configuration`` for the cluster, its token refreshed before expiry.

    Raises NotFound (no such cluster), BackendUnavailable.
    """
    from kubernetes import client  # type: ignore[import-untyped]

    with aws_sdk.aws_call("EKS DescribeCluster", aws_sdk.codes(NotFound, "ResourceNotFoundException")):
        described = aws_sdk.client("eks", region=region).describe_cluster(name=cluster)["cluster"]
    configuration = client.Configuration(host=described["endpoint"])
    with tempfile.NamedTemporaryFile("wb", suffix=".crt", delete=False) as ca:
        ca.write(base64.b64decode(described["certificateAuthority"]["data"]))
    configuration.ssl_ca_cert = ca.name
    configuration.api_key_prefix["authorization"] = "Bearer"
    issued = [0.0]

    def refresh(config: Any) -> None:
        if time.monotonic() - issued[0] > REFRESH_AFTER_SECONDS:
            config.api_key["authorization"] = eks_token(cluster, region)
            issued[0] = time.monotonic()

    configuration.refresh_api_key_hook = refresh
    return configuration
