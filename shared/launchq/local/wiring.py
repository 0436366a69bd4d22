"""Local mode's adapters: SQLite store, in-process doorbell, noop builder, local-process target."""

from __future__ import annotations

from launchq.adapters.builders.noop import NoopBuilder
from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.adapters.targets.catalog import TargetCatalog
from launchq.adapters.targets.local_process import LocalProcessTarget
from launchq.bootstrap import Services, build_services
from launchq.local.settings import LocalSettings
from launchq.service.context import Context, ServiceSettings
from launchq.service.queues import QueueCreate


def build_local(settings: LocalSettings, doorbell: InProcessDoorbell | None = None) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    target = LocalProcessTarget(settings.data_dir, grace_seconds=settings.grace_seconds)
    ctx = Context(
        store=SqliteRunStore(settings.db_path),
        doorbell=doorbell or InProcessDoorbell(),
        targets=TargetCatalog({target.resource: target}),
        builder=NoopBuilder(),
        settings=ServiceSettings(
            lease_seconds=settings.lease_seconds, start_timeout_seconds=settings.start_timeout_seconds
        ),
    )
    return build_services(ctx)


def ensure_default_queue(services: Services, name: str) -> None:
    """The queue a new user launches into first: local processes, one at a time."""
    services.queues.ensure(QueueCreate(name=name, resource="local-process", max_jobs=1))
