"""The AWS composition root: DynamoDB store, SQS doorbell, SageMaker and Kubernetes targets, image builds.

The kubernetes target is offered next to SageMaker (when the layer has the kubernetes
client): a queue names its cluster in its config's ``launchq`` block -- ``eks: {name,
region}`` from this stack (endpoint and CA from ``eks:DescribeCluster``, a token presigned
from STS: no kubeconfig, no aws CLI, no agent in the cluster), or ``gke``/``aks`` when the
layer has google-auth/azure-identity. Lambda has no kubeconfig and runs in no pod, so a
queue naming no managed cluster is refused at enqueue, naming the field.

EventBridge Scheduler fires cron schedules when the settings name its group, target and
role (the API function's do); otherwise the reconciler alone fires them.

Images are built by the stack's CodeBuild project and pushed to its ECR repository when
the settings name the project, the artifact bucket and the repository: build contexts go
to ``s3://<bucket>/build-contexts/``, uploaded code (``POST /code``) to ``code/``, and
sources are prepared under the function's ``/tmp`` (the only writable place in Lambda).
Without them the noop builder refuses runs that need an image.

boto3 clients are built once per cold start and reused across invocations; only AWS SDK
code is imported here (no GCP or Azure modules on a Lambda cold start).
"""

from __future__ import annotations

import importlib.util
import tempfile
from functools import cache
from pathlib import Path

from launchq.adapters.builders.codebuild import CodeBuildBuilder
from launchq.adapters.builders.noop import NoopBuilder
from launchq.adapters.code_stores.s3 import S3CodeStore
from launchq.adapters.doorbells.sqs import SqsDoorbell
from launchq.adapters.registries.ecr import EcrRegistry
from launchq.adapters.schedulers.eventbridge import EventBridgeSchedulerTrigger
from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
from launchq.adapters.stores.dynamodb import DynamoRunStore
from launchq.adapters.targets.kubernetes import KubernetesTarget
from launchq.adapters.targets.kubernetes_spec import check_object
from launchq.adapters.targets.sagemaker import SageMakerTarget
from launchq.aws.idempotency import IdempotentRunService
from launchq.aws.settings import AwsSettings
from launchq.bootstrap import Services, build_services
from launchq.domain.models import JsonObject, RunSpec
from launchq.errors import InvalidInput
from launchq.ports import Builder, CodeStore, Registry, ScheduleTrigger, Target
from launchq.service.context import Context
from launchq.service.targets import TargetCatalog

# tempfile's directory is /tmp in Lambda (no TMPDIR there), and a local one in tests.
BUILD_DIR = Path(tempfile.gettempdir()) / "launchq-builds"
CODE_PREFIX = "code/"


def schedule_trigger(settings: AwsSettings) -> ScheduleTrigger:
    """EventBridge Scheduler when the settings name its group, target and role; else none."""
    group, target, role = settings.schedule_group, settings.scheduler_target_arn, settings.scheduler_role_arn
    if group and target and role:
        return EventBridgeSchedulerTrigger(group, target, role)
    return ReconcilerOnlyTrigger()


class ManagedKubernetesTarget(KubernetesTarget):
    """The kubernetes target as a Lambda function can use it: on a managed cluster only."""

    def validate(self, spec: RunSpec, resolved: JsonObject) -> None:
        if check_object(spec, resolved).options.managed() is None:
            raise InvalidInput(
                "name the cluster: eks: {name, region} (or gke, aks); the AWS stack has no "
                "kubeconfig and runs in no pod, so context, in_cluster or none cannot be reached",
                field="resource_args.kubernetes.launchq",
            )


def image_builds(settings: AwsSettings) -> tuple[Builder, Registry | None, CodeStore | None]:
    """CodeBuild + ECR + S3 code store when the settings name all three; else the noop builder.

    Raises InvalidInput when the repository URI is not an ECR repository's.
    """
    project, bucket, uri = settings.build_project, settings.artifact_bucket, settings.image_repository_uri
    if not (project and bucket and uri):
        return NoopBuilder(), None, None
    registry = EcrRegistry(uri)
    return CodeBuildBuilder(project, bucket, registry), registry, S3CodeStore(bucket, CODE_PREFIX)


def build_aws(settings: AwsSettings) -> Services:
    offered: list[Target] = [SageMakerTarget(account_id=settings.account_id)]
    if importlib.util.find_spec("kubernetes"):  # in the layer; optional for other installs
        offered.append(ManagedKubernetesTarget())
    builder, registry, code_store = image_builds(settings)
    ctx = Context(
        store=DynamoRunStore(settings.table_name),
        doorbell=SqsDoorbell(settings.doorbell_queue_url),
        targets=TargetCatalog({target.resource: target for target in offered}),
        builder=builder,
        settings=settings.service,
        trigger=schedule_trigger(settings),
        registry=registry,
        code_store=code_store,
        build_dir=BUILD_DIR,
        control_plane=True,  # agents queues are left to agents over HTTP
    )
    return build_services(ctx, runs=IdempotentRunService(ctx, settings.table_name))


@cache
def services_from_env() -> Services:
    """The process-wide services of a Lambda function (built at the first invocation)."""
    return build_aws(AwsSettings())  # fields come from the environment
