"""EKS from the serverless dispatcher: no kubeconfig, no aws CLI, no agent in the cluster.

The cluster's endpoint and CA come from EKS DescribeCluster, asked of moto (a real AWS API
server process) through the SDK; the bearer token is a presigned STS GetCallerIdentity.
The Kubernetes API stand-in in front answers 401 unless the token is one EKS's authenticator
would accept -- its SigV4 signature recomputed independently, ``x-k8s-aws-id`` signed, fresh
-- so every request the client made is shown to carry one. moto's EKS endpoints are fixed
``*.eks.amazonaws.com`` names, so the client is pointed at the stand-in after the endpoint
and CA it was given are checked. The last test runs the AWS stack's own Lambda handlers:
enqueue through the API, the dispatcher submits the seed's Job to EKS, the reconciler sees
it finish.
"""

from __future__ import annotations

import base64
import copy
import datetime
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest

from functions.aws import dispatcher, reconciler
from launchq.adapters.stores.dynamodb import create_table
from launchq.adapters.targets import kubernetes, kubernetes_eks
from launchq.adapters.targets.kubernetes import KubernetesTarget
from launchq.adapters.targets.kubernetes_options import KubeOptions
from launchq.adapters.targets.kubernetes_tokens import TOKENS
from launchq.aws.settings import AwsSettings
from launchq.aws.wiring import build_aws
from launchq.errors import BackendUnavailable, LaunchFailed
from tests.functional.aws_harness import CTX, call_api, doorbell_event, load_event
from tests.integration.test_kubernetes_target import launch, make_run
from tests.kube_clouds import (
    GuardedKube,
    fresh_tokens,  # noqa: F401 - autouse: each test starts with no cached token
    guarded_kube,
    repointed,
    run_to_the_end,
)
from tests.unit.test_kubernetes_eks import decode, expected_signature
from tests.unit.test_kubernetes_spec import SEED_JOB

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1"


@pytest.fixture
def eks_env(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> str:
    """AWS SDK calls go to moto, with fixed credentials (the EKS tokens are signed with them)."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": moto_url,
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(key, raising=False)
    return moto_url


def eks_accepts(cluster: str) -> Callable[[str], bool]:
    """What EKS's authenticator accepts: a presigned STS GetCallerIdentity for this cluster, signed
    with the caller's credentials, ``x-k8s-aws-id`` among the signed headers, fresh."""

    def accepts(header: str) -> bool:
        if not header.startswith("Bearer k8s-aws-v1."):
            return False
        url = decode(header.removeprefix("Bearer "))
        query = dict(parse_qsl(urlsplit(url).query))
        signed_at = datetime.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.UTC
        )
        fresh = datetime.datetime.now(datetime.UTC) - signed_at < datetime.timedelta(minutes=15)
        return fresh and query["X-Amz-Signature"] == expected_signature(url, cluster, "testing")

    return accepts


def create_eks_cluster(name: str, region: str = "eu-west-1") -> dict[str, Any]:
    eks = boto3.client("eks", region_name=region)
    eks.create_cluster(name=name, roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={})
    described: dict[str, Any] = eks.describe_cluster(name=name)["cluster"]
    return described


@pytest.mark.usefixtures("eks_env")
def test_an_eks_queue_runs_with_the_endpoint_and_ca_from_describe_cluster_and_a_verified_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN an EKS cluster "training" (in moto) and an API server that accepts only its STS tokens
    described = create_eks_cluster("training")
    with guarded_kube(monkeypatch, eks_accepts("training")) as kube:

        def checks(configuration: Any) -> None:
            # THEN the client was given the cluster's endpoint and CA, from DescribeCluster
            assert configuration.host == described["endpoint"].rstrip("/")
            ca = Path(configuration.ssl_ca_cert).read_bytes()
            assert ca == base64.b64decode(described["certificateAuthority"]["data"])

        # WHEN a queue names it (region and name only: no kubeconfig, no aws CLI)
        target = KubernetesTarget(repointed(kube.url, checks), watch_seconds=2)
        run_to_the_end(kube, target, {"eks": {"name": "training", "region": "eu-west-1"}})
    # THEN every request bore a token EKS would accept (the guard refused anything else)
    assert len(kube.authorizations) > 5
    assert all(eks_accepts("training")(header) for header in kube.authorizations)


@pytest.mark.usefixtures("eks_env")
def test_the_eks_token_is_reused_then_minted_again_before_its_fifteen_minutes_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create_eks_cluster("training")
    minted: list[str] = []
    real = kubernetes_eks.eks_token
    monkeypatch.setattr(kubernetes_eks, "eks_token", lambda c, r: minted.append(c) or real(c, r))
    with guarded_kube(monkeypatch, eks_accepts("training")) as kube:
        target = KubernetesTarget(repointed(kube.url), watch_seconds=2)
        run = launch(target, make_run({"launchq": {"eks": {"name": "training", "region": "eu-west-1"}}}))
        target.status(run)
        assert minted == ["training"]  # one token for all of those requests
        # WHEN ten minutes have passed (five before EKS would refuse it)
        later = datetime.datetime.now(datetime.UTC).timestamp() + 600
        monkeypatch.setattr(TOKENS, "_clock", lambda: later)
        # THEN the next request carries a new token, and the cluster still answers
        assert target.status(run).state == "starting"
        assert minted == ["training", "training"]


@pytest.mark.usefixtures("eks_env")
def test_an_eks_cluster_that_does_not_exist_is_a_launch_failure_naming_the_field() -> None:
    target = KubernetesTarget()  # the default clients: straight to EKS
    with pytest.raises(LaunchFailed, match="no EKS cluster 'nowhere' in eu-west-1") as caught:
        target.submit(make_run({"launchq": {"eks": {"name": "nowhere", "region": "eu-west-1"}}}))
    assert caught.value.field == "resource_args.kubernetes.launchq.eks.name"


def test_no_aws_credentials_for_eks_is_backend_unavailable(
    monkeypatch: pytest.MonkeyPatch, moto_url: str, tmp_path: Path
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it keeps the credentials an earlier test found
    with pytest.raises(BackendUnavailable, match="NoCredentialsError"):
        KubernetesTarget().submit(make_run({"launchq": {"eks": {"name": "training", "region": "eu-west-1"}}}))


@pytest.fixture
def eks_in_us_east_1(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[GuardedKube]:
    """EKS cluster "training" in us-east-1 (moto), its API server the guarded stand-in; launchq's
    own client factory is wrapped to point there (taken before the stack's services are built)."""
    create_eks_cluster("training", "us-east-1")
    real = kubernetes.default_api_client

    def at_the_stand_in(options: KubeOptions) -> Any:
        api_client = real(options)
        api_client.configuration.host = kube.url
        return api_client

    with guarded_kube(monkeypatch, eks_accepts("training")) as kube:
        monkeypatch.setattr(kubernetes, "default_api_client", at_the_stand_in)
        yield kube


def test_the_serverless_dispatcher_on_aws_submits_the_seed_job_to_eks_and_sees_it_finish(
    eks_in_us_east_1: GuardedKube, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    kube = eks_in_us_east_1
    table = f"launchq-{uuid.uuid4().hex[:8]}"
    create_table(boto3.client("dynamodb"), table)
    queue_url = boto3.client("sqs").create_queue(QueueName=f"doorbell-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    monkeypatch.setenv("LAUNCHQ_TABLE_NAME", table)
    monkeypatch.setenv("LAUNCHQ_DOORBELL_QUEUE_URL", queue_url)
    svc = build_aws(AwsSettings())
    # GIVEN the AWS stack, and W&B's Job spec as a queue config naming the EKS cluster
    config = {**copy.deepcopy(SEED_JOB), "launchq": {"eks": {"name": "training", "region": "us-east-1"}}}
    status, created = call_api(
        svc, "POST", "/queues", {"name": "eks", "resource": "kubernetes", "config": config}
    )
    assert status == 201, created
    # AND on a queue naming no managed cluster a run is refused at enqueue: Lambda has no kubeconfig
    call_api(svc, "POST", "/queues", {"name": "kc", "resource": "kubernetes", "config": {}})
    status, refused = call_api(svc, "POST", "/queues/kc/runs", {"docker_image": IMAGE})
    assert status == 422
    assert "resource_args.kubernetes.launchq" in str(refused)
    assert "name the cluster: eks" in str(refused)
    # WHEN a run is enqueued through the API and the dispatcher Lambda is rung
    run = call_api(
        svc, "POST", "/queues/eks/runs", {"docker_image": IMAGE, "entry_point": ["python", "t.py"]}
    )[1]
    assert dispatcher.handler(doorbell_event(queue_url), CTX, svc) == {"batchItemFailures": []}
    # THEN the Job is in the cluster (namespace wandb, from the seed) with the run's image and labels
    (job,) = kube.api.kinds("jobs", "wandb")
    assert job["metadata"]["labels"]["launchq.io/run-id"] == run["id"]
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    assert svc.runs.get(run["id"]).state.value == "starting"
    # AND when its pod succeeds, the reconciler's poll finishes the run
    kube.api.advance(run["id"])
    kube.api.advance(run["id"])
    assert reconciler.handler(load_event("scheduled-event.json"), CTX, svc) == {"ok": True}
    assert svc.runs.get(run["id"]).state.value == "finished"
    # AND every request to the cluster bore an STS token EKS would accept
    assert kube.authorizations
    assert all(eks_accepts("training")(header) for header in kube.authorizations)
    boto3.client("dynamodb").delete_table(TableName=table)
