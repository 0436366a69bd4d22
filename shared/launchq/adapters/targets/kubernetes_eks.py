"""EKS credentials for the serverless dispatcher: no kubeconfig file, no ``aws`` CLI.

EKS accepts as a bearer token a presigned STS ``GetCallerIdentity`` URL whose signed
headers include ``x-k8s-aws-id: <cluster name>`` (the aws-iam-authenticator scheme, what
``aws eks get-token`` prints): ``k8s-aws-v1.`` followed by the URL in unpadded base64url.
The URL is presigned for 60 seconds and EKS accepts it for 15 minutes from signing; the
token is cached per cluster and minted again 5 minutes before that (``kubernetes_tokens``),
so a dispatcher that lives longer never sends a stale token.

The cluster's endpoint and certificate authority come from EKS ``DescribeCluster``
(``eks:DescribeCluster`` on the cluster; the identity must also be mapped into the cluster
by an EKS access entry). All AWS calls go through ``launchq.adapters.aws_sdk``, the one AWS
SDK edge.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from launchq.adapters import aws_sdk
from launchq.adapters.targets.kubernetes_tokens import OPTIONS_FIELD, Token, bearer_configuration, decoded_ca
from launchq.errors import LaunchFailed, NotFound

__all__ = ["CLUSTER_HEADER", "TOKEN_PREFIX", "TOKEN_SECONDS", "eks_configuration", "eks_token"]

CLUSTER_HEADER = "x-k8s-aws-id"
TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - the scheme's name, not a secret
PRESIGN_SECONDS = 60
TOKEN_SECONDS = 15 * 60  # how long EKS accepts a token after it was signed


def eks_token(cluster: str, region: str) -> str:
    """A bearer token for EKS cluster ``cluster`` in ``region``. Raises BackendUnavailable."""
    url = aws_sdk.presign_sts_caller_identity(region, {CLUSTER_HEADER: cluster}, PRESIGN_SECONDS)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def eks_configuration(cluster: str, region: str) -> Any:
    """A ``kubernetes.client.Configuration`` for the cluster, its token refreshed before expiry.

    Raises LaunchFailed (no such cluster: field ``launchq.eks.name``; access refused),
    BackendUnavailable (no AWS credentials, EKS or STS not answering).
    """
    try:
        endpoint, ca_data = aws_sdk.eks_cluster(cluster, region)
    except NotFound as exc:
        raise LaunchFailed(
            f"no EKS cluster {cluster!r} in {region} ({exc.detail})", field=f"{OPTIONS_FIELD}.eks.name"
        ) from exc

    def mint() -> Token:
        signed_at = time.time()
        return Token(eks_token(cluster, region), signed_at + TOKEN_SECONDS)

    ca_pem = decoded_ca(ca_data, f"EKS DescribeCluster of {cluster!r}")
    return bearer_configuration(f"eks:{region}:{cluster}", endpoint, ca_pem, mint)
