"""Helpers for service tests: a settable clock, and services wired around the package's fake target.

``FakeTarget`` lives in the package (``launchq.adapters.targets.fake``), where it passes the
Target contract suite like the real targets; it is re-exported here for the unit tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from launchq.adapters.builders.noop import NoopBuilder
from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
from launchq.adapters.stores.memory import MemoryRunStore
from launchq.adapters.targets.fake import FakeTarget
from launchq.bootstrap import Services, build_services
from launchq.ports import Target
from launchq.service.targets import TargetCatalog

__all__ = ["Clock", "FakeTarget", "services"]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def services(target: Target, clock: Clock) -> Services:
    from launchq.service.context import Context, ServiceSettings

    ctx = Context(
        store=MemoryRunStore(),
        doorbell=InProcessDoorbell(),
        targets=TargetCatalog({target.resource: target}),
        builder=NoopBuilder(),
        trigger=ReconcilerOnlyTrigger(),
        settings=ServiceSettings(lease_seconds=60, start_timeout_seconds=120),
        clock=clock,
    )
    return build_services(ctx)
