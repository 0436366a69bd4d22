"""The collaborators every service shares, and the service's own settings."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field

from launchq.domain.models import DEFAULT_ENTITY, NAME_PATTERN
from launchq.ports import Builder, CodeStore, Doorbell, Registry, RunStore, ScheduleTrigger
from launchq.service.targets import TargetCatalog

Seconds = Annotated[float, Field(gt=0)]
"""A positive duration in seconds (the constraint travels with the type, so a deployment
that overrides a default, as the AWS settings do, keeps it)."""


class ServiceSettings(BaseModel):
    """Timing knobs of the dispatcher and reconciler, and the entity new queues belong to.

    Defined once, here. The local and AWS settings inherit these fields, so each is read
    from the same flat variable in either mode (``LAUNCHQ_LEASE_SECONDS``,
    ``LAUNCHQ_START_TIMEOUT_SECONDS``, ``LAUNCHQ_BUILD_TIMEOUT_SECONDS``, ``LAUNCHQ_ENTITY``,
    ``LAUNCHQ_MAX_PREEMPTIONS``),
    and hand the service only these fields (``service``).
    """

    lease_seconds: Seconds = Field(default=900, description="a claim not launched by then is requeued")
    start_timeout_seconds: Seconds = Field(default=600, description="starting longer -> dead_letter")
    build_timeout_seconds: Seconds = Field(default=3600, description="building longer -> dead_letter")
    max_preemptions: int = Field(
        default=3,
        ge=1,
        description="a run's Nth preemption fails it ('preempted N times'); earlier ones requeue it in place",
    )
    entity: str = Field(
        default=DEFAULT_ENTITY,
        pattern=NAME_PATTERN,
        description="entity of queues created without one (their runs' WANDB_ENTITY)",
    )

    @property
    def service(self) -> ServiceSettings:
        """These fields alone, as a plain ServiceSettings (for a subclass's values)."""
        return ServiceSettings.model_validate(self.model_dump(include=set(ServiceSettings.model_fields)))


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """What the services work with. Built by a composition root (``launchq.local.wiring``,
    ``launchq.aws.wiring``), which picks every adapter: nothing here defaults to one."""

    store: RunStore
    doorbell: Doorbell
    targets: TargetCatalog
    builder: Builder
    # Fires cron schedules ahead of the reconciler (ReconcilerOnlyTrigger: nothing does).
    trigger: ScheduleTrigger
    settings: ServiceSettings = field(default_factory=ServiceSettings)
    clock: Callable[[], datetime] = utcnow
    # Image builds: where images go, where uploaded code lives, where sources are prepared.
    registry: Registry | None = None
    code_store: CodeStore | None = None
    build_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "launchq-builds")
    # True in a process that owns the store (launchq serve, the Lambda functions): its
    # dispatcher and reconciler leave the runs of ``dispatch: agents`` queues to the agents
    # pulling over HTTP (``launchq.service.dispatcher.serves``). An agent serves them.
    control_plane: bool = False
    # The agent-wide cap on active runs across the queues this process dispatches (the
    # ``max_jobs`` of ``launchq serve -c FILE``); None: none. Read by ``service.waiting``.
    dispatch_cap: int | None = None
