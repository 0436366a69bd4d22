"""Settings of the AWS stack, read once per cold start from the functions' environment.

template.yaml sets every variable; a missing one fails the cold start with a message that
names it, not a KeyError somewhere later.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AwsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAUNCHQ_", extra="ignore")

    table_name: str = Field(min_length=3, description="the DynamoDB table (runs, queues, schedules)")
    doorbell_queue_url: str = Field(min_length=1, description="the SQS doorbell queue")
    account_id: str | None = Field(default=None, description="for expanding bare SageMaker role names")
    lease_seconds: float = Field(default=600, gt=0)
    start_timeout_seconds: float = Field(default=1800, gt=0)
    entity: str = "default"
    # EventBridge Scheduler fires cron schedules when all three are set (only the API
    # function, which creates and deletes schedules, needs them); else the reconciler does.
    schedule_group: str | None = Field(default=None, min_length=1, description="Scheduler schedule group")
    scheduler_target_arn: str | None = Field(
        default=None, min_length=1, description="the events Lambda that Scheduler schedules invoke"
    )
    scheduler_role_arn: str | None = Field(
        default=None, min_length=1, description="the role Scheduler assumes to invoke it"
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
