"""The AWS composition root: DynamoDB store, SQS doorbell, SageMaker target, noop builder.

EventBridge Scheduler fires cron schedules when the settings name its group, target and
role (the API function's do); otherwise the reconciler alone fires them.

boto3 clients are built once per cold start and reused across invocations; only AWS SDK
code is imported here (no GCP or Azure modules on a Lambda cold start).
"""

from __future__ import annotations

from functools import cache

from launchq.adapters.builders.noop import NoopBuilder
from launchq.adapters.doorbells.sqs import SqsDoorbell
from launchq.adapters.schedulers.eventbridge import EventBridgeSchedulerTrigger
from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
from launchq.adapters.stores.dynamodb import DynamoRunStore
from launchq.adapters.targets.catalog import TargetCatalog
from launchq.adapters.targets.sagemaker import SageMakerTarget
from launchq.aws.idempotency import IdempotentRunService
from launchq.aws.settings import AwsSettings
from launchq.bootstrap import Services, build_services
from launchq.ports import ScheduleTrigger
from launchq.service.context import Context, ServiceSettings


def schedule_trigger(settings: AwsSettings) -> ScheduleTrigger:
    """EventBridge Scheduler when the settings name its group, target and role; else none."""
    group, target, role = settings.schedule_group, settings.scheduler_target_arn, settings.scheduler_role_arn
    if group and target and role:
        return EventBridgeSchedulerTrigger(group, target, role)
    return ReconcilerOnlyTrigger()


def build_aws(settings: AwsSettings) -> Services:
    target = SageMakerTarget(account_id=settings.account_id)
    ctx = Context(
        store=DynamoRunStore(settings.table_name),
        doorbell=SqsDoorbell(settings.doorbell_queue_url),
        targets=TargetCatalog({target.resource: target}),
        builder=NoopBuilder(),
        settings=ServiceSettings(
            lease_seconds=settings.lease_seconds, start_timeout_seconds=settings.start_timeout_seconds
        ),
        trigger=schedule_trigger(settings),
    )
    return build_services(ctx, runs=IdempotentRunService(ctx, settings.table_name))


@cache
def services_from_env() -> Services:
    """The process-wide services of a Lambda function (built at the first invocation)."""
    return build_aws(AwsSettings())  # fields come from the environment
