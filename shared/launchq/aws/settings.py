"""Settings of the AWS stack, read once per cold start from the functions' environment.

template.yaml sets every variable; a missing one fails the cold start with a message that
names it, not a KeyError somewhere later.

The service's own settings (lease, start and build timeouts, entity) are ServiceSettings'
fields, inherited under their flat names (``LAUNCHQ_LEASE_SECONDS``, ...); two defaults
are the stack's own, for the reasons given where they are overridden.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from launchq.service.context import Seconds, ServiceSettings


class AwsSettings(BaseSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LAUNCHQ_", extra="ignore")

    table_name: str = Field(min_length=3, description="the DynamoDB table (runs, queues, schedules)")
    doorbell_queue_url: str = Field(min_length=1, description="the SQS doorbell queue")
    account_id: str | None = Field(default=None, description="for expanding bare SageMaker role names")
    # The dispatcher function times out after 60 s (template.yaml), so a claim older than
    # that is orphaned: ten minutes requeues it sooner than local mode's default does.
    lease_seconds: Seconds = Field(default=600, description="a claim not launched by then is requeued")
    # A SageMaker job is "starting" while ML instances are provisioned and the image is
    # pulled, which for GPU instances often takes longer than local mode's ten minutes.
    start_timeout_seconds: Seconds = Field(default=1800, description="starting longer -> dead_letter")
    # EventBridge Scheduler fires cron schedules when all three are set (only the API
    # function, which creates and deletes schedules, needs them); else the reconciler does.
    schedule_group: str | None = Field(default=None, min_length=1, description="Scheduler schedule group")
    scheduler_target_arn: str | None = Field(
        default=None, min_length=1, description="the events Lambda that Scheduler schedules invoke"
    )
    scheduler_role_arn: str | None = Field(
        default=None, min_length=1, description="the role Scheduler assumes to invoke it"
    )
    # Image builds (runs with a source and no docker_image) when all three are set: the
    # CodeBuild project, the bucket for build contexts and uploaded code, and the ECR
    # repository images are pushed to; else no builds (the noop builder refuses them).
    build_project: str | None = Field(default=None, min_length=1, description="the CodeBuild project")
    artifact_bucket: str | None = Field(
        default=None, min_length=1, description="S3 bucket: build-contexts/ and code/ uploads"
    )
    image_repository_uri: str | None = Field(
        default=None,
        min_length=1,
        description="ECR repository <account>.dkr.ecr.<region>.amazonaws.com/<name>",
    )

    @model_validator(mode="after")
    def _scheduler_all_or_nothing(self) -> Self:
        given = [self.schedule_group, self.scheduler_target_arn, self.scheduler_role_arn]
        if any(given) and not all(given):
            raise ValueError(
                "set all of LAUNCHQ_SCHEDULE_GROUP, LAUNCHQ_SCHEDULER_TARGET_ARN and "
                "LAUNCHQ_SCHEDULER_ROLE_ARN, or none"
            )
        return self

    @model_validator(mode="after")
    def _builds_all_or_nothing(self) -> Self:
        given = {
            "LAUNCHQ_BUILD_PROJECT": self.build_project,
            "LAUNCHQ_ARTIFACT_BUCKET": self.artifact_bucket,
            "LAUNCHQ_IMAGE_REPOSITORY_URI": self.image_repository_uri,
        }
        missing = [name for name, value in given.items() if not value]
        if missing and len(missing) < len(given):
            raise ValueError(
                "image builds need all of LAUNCHQ_BUILD_PROJECT, LAUNCHQ_ARTIFACT_BUCKET and "
                f"LAUNCHQ_IMAGE_REPOSITORY_URI, or none; missing: {', '.join(missing)}"
            )
        return self
