"""Settings of local mode (``launchq serve`` / ``launchq agent``), read once from ``LAUNCHQ_*``.

The service's own settings (lease, start and build timeouts, entity) are ServiceSettings'
fields, inherited under their flat names (``LAUNCHQ_LEASE_SECONDS``, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from launchq.errors import InvalidInput
from launchq.service.context import ServiceSettings
from launchq.validation import error_message


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "launchq"


class LocalSettings(BaseSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LAUNCHQ_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    poll_interval: float = Field(default=1.0, gt=0, description="seconds between reconciler ticks")
    grace_seconds: float = Field(default=10.0, ge=0, description="SIGTERM -> SIGKILL grace on stop")
    default_queue: str = "default"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "launchq.db"


def load_local_settings(**flags: Any) -> LocalSettings:
    """``LAUNCHQ_*`` from the environment, with the command line's ``flags`` over them.

    Raises InvalidInput naming the flag, or the variable (``LAUNCHQ_LEASE_SECONDS``), that
    holds a bad value, so ``launchq serve``/``agent`` print one line and exit 2.
    """
    try:
        return LocalSettings(**flags)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        field = name if name in flags else f"LAUNCHQ_{name.upper()}"
        raise InvalidInput(error_message(error), field=field) from None
