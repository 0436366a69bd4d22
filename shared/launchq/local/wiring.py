"""Local mode's adapters: SQLite store, in-process doorbell, local-process target, and the
builder/registry/cloud targets ``launch-config.yaml`` asks for (see ``build_wiring``)."""

from __future__ import annotations

import importlib.util

from pydantic import ValidationError

from launchq.adapters.code_stores.local import LocalCodeStore
from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.adapters.targets.kubernetes import KubernetesTarget, registry_pull_secret
from launchq.adapters.targets.local_process import LocalProcessTarget
from launchq.bootstrap import Services, build_services
from launchq.domain.launch_config import LaunchConfig
from launchq.local.build_wiring import builder_for, cloud_targets, registry_for
from launchq.local.settings import LocalSettings
from launchq.ports import RunStore
from launchq.service.context import Context, ServiceSettings
from launchq.service.queues import QueueCreate
from launchq.service.targets import TargetCatalog
from launchq.validation import invalid_input


def build_local(
    settings: LocalSettings,
    doorbell: InProcessDoorbell | None = None,
    config: LaunchConfig | None = None,
    store: RunStore | None = None,
) -> Services:
    """Raises InvalidInput when ``config`` asks for what this machine cannot do.

    ``store``: where runs live; the SQLite file in the data directory unless an agent
    pulls from a control plane (``launchq.remote.wiring``)."""
    config = config or LaunchConfig()
    service = service_settings(settings, config)  # refused before anything is created
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    code_store = LocalCodeStore(settings.data_dir / "code")  # code:// runs unpack from it too
    local = LocalProcessTarget(settings.data_dir, grace_seconds=settings.grace_seconds, code_store=code_store)
    registry = registry_for(config)
    kube = (  # its SDK is optional; runs pull images launchq built with the registry's credentials
        [KubernetesTarget(pull_secret=registry_pull_secret(registry))]
        if importlib.util.find_spec("kubernetes")
        else []
    )
    targets = {t.resource: t for t in [local, *cloud_targets(config), *kube]}
    doorbell = doorbell or InProcessDoorbell()
    ctx = Context(
        store=store or SqliteRunStore(settings.db_path),
        doorbell=doorbell,
        targets=TargetCatalog(targets),
        builder=builder_for(config, registry, settings.data_dir / "builds"),
        trigger=ReconcilerOnlyTrigger(),  # nothing outside this process fires schedules
        settings=service,
        registry=registry,
        code_store=code_store,
        build_dir=settings.data_dir / "build-contexts",
        # owning the store, it leaves agents queues to agents over HTTP; an agent serves them
        control_plane=store is None,
    )
    return build_services(ctx, rings=doorbell)  # agents' long polls hear this doorbell


def service_settings(settings: LocalSettings, config: LaunchConfig) -> ServiceSettings:
    """The service's settings, with launch-config's ``entity`` (W&B's key) over LAUNCHQ_ENTITY.

    Raises InvalidInput naming ``entity`` when the file's is not a name a queue can carry.
    """
    try:
        return ServiceSettings.model_validate(
            {**settings.service.model_dump(), "entity": config.entity or settings.entity}
        )
    except ValidationError as exc:
        raise invalid_input(exc) from None


def ensure_default_queue(services: Services, name: str) -> None:
    """The queue a new user launches into first: local processes, one at a time."""
    services.queues.ensure(QueueCreate(name=name, resource="local-process", max_jobs=1))
