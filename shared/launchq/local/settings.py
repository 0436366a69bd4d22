"""Settings of local mode (``launchq serve`` / ``launchq agent``), read once from ``LAUNCHQ_*``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from launchq.domain.models import DEFAULT_ENTITY, NAME_PATTERN


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "launchq"


class LocalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAUNCHQ_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    poll_interval: float = Field(default=1.0, gt=0, description="seconds between reconciler ticks")
    grace_seconds: float = Field(default=10.0, ge=0, description="SIGTERM -> SIGKILL grace on stop")
    lease_seconds: float = Field(default=900, gt=0)
    start_timeout_seconds: float = Field(default=600, gt=0)
    default_queue: str = "default"
    entity: str = Field(default=DEFAULT_ENTITY, pattern=NAME_PATTERN, description="entity of new queues")

    @property
    def db_path(self) -> Path:
        return self.data_dir / "launchq.db"
