"""Fakes for service tests: a target whose jobs are driven by the test, and a settable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

from launchq.adapters.builders.noop import NoopBuilder
from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.adapters.stores.memory import MemoryRunStore
from launchq.adapters.targets.catalog import TargetCatalog
from launchq.bootstrap import Services, build_services
from launchq.domain.models import JsonObject, Run, RunSpec
from launchq.errors import LaunchFailed
from launchq.ports import Target, TargetStatus


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeTarget(Target):
    """Jobs live in a dict; tests set their status. ``fail_submit`` makes submit refuse."""

    resource: ClassVar[str] = "local-process"
    needs_image: ClassVar[bool] = False

    def __init__(self) -> None:
        self.jobs: dict[str, TargetStatus] = {}
        self.stops: list[str] = []
        self.fail_submit: str | None = None

    def validate(self, spec: RunSpec, resolved: JsonObject) -> None:
        return None

    def submit(self, run: Run) -> dict[str, str]:
        if self.fail_submit:
            raise LaunchFailed(self.fail_submit)
        self.jobs[run.id] = TargetStatus(state="starting")
        return {"job": run.id}

    def status(self, run: Run) -> TargetStatus:
        return self.jobs[run.id]

    def stop(self, run: Run) -> None:
        self.stops.append(run.id)

    def logs(self, run: Run, offset: int = 0) -> tuple[str, int]:
        return "", offset


def services(target: FakeTarget, clock: Clock) -> Services:
    from launchq.service.context import Context, ServiceSettings

    ctx = Context(
        store=MemoryRunStore(),
        doorbell=InProcessDoorbell(),
        targets=TargetCatalog({target.resource: target}),
        builder=NoopBuilder(),
        settings=ServiceSettings(lease_seconds=60, start_timeout_seconds=120),
        clock=clock,
    )
    return build_services(ctx)
