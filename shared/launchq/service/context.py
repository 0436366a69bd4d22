"""The collaborators every service shares, and the service's own settings."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
from launchq.adapters.targets.catalog import TargetCatalog
from launchq.build.code_store import CodeStore
from launchq.domain.models import DEFAULT_ENTITY, NAME_PATTERN
from launchq.ports import Builder, Doorbell, Registry, RunStore, ScheduleTrigger


class ServiceSettings(BaseModel):
    """Timing knobs of the dispatcher and reconciler, and the entity new queues belong to."""

    lease_seconds: float = Field(default=900, gt=0, description="a claim not launched by then is requeued")
    start_timeout_seconds: float = Field(default=600, gt=0, description="starting longer -> dead_letter")
    build_timeout_seconds: float = Field(default=3600, gt=0, description="building longer -> dead_letter")
    entity: str = Field(
        default=DEFAULT_ENTITY, pattern=NAME_PATTERN, description="entity of queues created without one"
    )


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
    # Image builds: where images go, where uploaded code lives, where sources are prepared.
    registry: Registry | None = None
    code_store: CodeStore | None = None
    build_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "launchq-builds")
