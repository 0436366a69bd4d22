"""The collaborators every service shares, and the service's own settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
from launchq.adapters.targets.catalog import TargetCatalog
from launchq.ports import Builder, Doorbell, RunStore, ScheduleTrigger


class ServiceSettings(BaseModel):
    """Timing knobs of the dispatcher and reconciler."""

    lease_seconds: float = Field(default=900, gt=0, description="a claim not launched by then is requeued")
    start_timeout_seconds: float = Field(default=600, gt=0, description="starting longer -> dead_letter")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    store: RunStore
    doorbell: Doorbell
    targets: TargetCatalog
    builder: Builder
    settings: ServiceSettings = field(default_factory=ServiceSettings)
    clock: Callable[[], datetime] = utcnow
    # Fires cron schedules ahead of the reconciler; by default nothing does (local mode).
    trigger: ScheduleTrigger = field(default_factory=ReconcilerOnlyTrigger)
