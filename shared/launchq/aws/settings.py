"""Settings of the AWS stack, read once per cold start from the functions' environment.

template.yaml sets every variable; a missing one fails the cold start with a message that
names it, not a KeyError somewhere later.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AwsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAUNCHQ_", extra="ignore")

    table_name: str = Field(min_length=3, description="the DynamoDB table (runs, queues, schedules)")
    doorbell_queue_url: str = Field(min_length=1, description="the SQS doorbell queue")
    account_id: str | None = Field(default=None, description="for expanding bare SageMaker role names")
    lease_seconds: float = Field(default=600, gt=0)
    start_timeout_seconds: float = Field(default=1800, gt=0)
    entity: str = "default"
