"""A service on the package's fakes for build tests: fake builder, registry and target, any store.

No buildah, no registry server, no CodeBuild: ``FakeBuilder`` and ``FakeRegistry`` pass the
same contract suites as the real builders and registries (``tests/contract/``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from launchq.adapters.builders.fake import FakeBuilder
from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.adapters.registries.fake import FakeRegistry
from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
from launchq.adapters.stores.memory import MemoryRunStore
from launchq.adapters.targets.fake import FakeTarget
from launchq.bootstrap import Services, build_services
from launchq.domain.models import Run, RunSpec
from launchq.ports import RunStore
from launchq.service.context import Context
from launchq.service.queues import QueueCreate
from launchq.service.targets import TargetCatalog
from tests.unit.fakes import Clock


class ImageTarget(FakeTarget):
    """The fake target, running images: a run from code is built before it is submitted;
    the run each submit was given is kept, so its image and handle can be checked."""

    needs_image: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.submitted: dict[str, Run] = {}

    @property
    def images(self) -> dict[str, str | None]:
        """Run id -> the image it was submitted with."""
        return {run_id: run.spec.docker_image for run_id, run in self.submitted.items()}

    def submit(self, run: Run) -> dict[str, str]:
        self.submitted[run.id] = run
        return super().submit(run)


class World:
    """One queue ``q`` (local-process, unlimited) and a source tree with a ``train.py``."""

    def __init__(self, tmp_path: Path, store: RunStore | None = None, *, asynchronous: bool) -> None:
        self.store = store or MemoryRunStore()
        self.registry = FakeRegistry("registry.test/team/train")
        self.builder = FakeBuilder(self.registry, asynchronous=asynchronous)
        self.target = ImageTarget()
        self.source = tmp_path / "src"
        self.source.mkdir()
        (self.source / "train.py").write_text("print('training')\n")
        ctx = Context(
            store=self.store,
            doorbell=InProcessDoorbell(),
            targets=TargetCatalog({self.target.resource: self.target}),
            builder=self.builder,
            trigger=ReconcilerOnlyTrigger(),
            clock=Clock(),
            registry=self.registry,
            build_dir=tmp_path / "builds",
        )
        self.svc: Services = build_services(ctx)
        self.svc.queues.create(QueueCreate(name="q", resource="local-process", max_jobs=-1))

    def enqueue(self, builder: dict[str, Any] | None = None) -> Run:
        resource_args = {"local-process": {"builder": builder}} if builder else {}
        spec = RunSpec(uri=str(self.source), entry_point=["python", "train.py"], resource_args=resource_args)
        run, _ = self.svc.runs.enqueue("q", spec)
        return run

    def dispatch_first(self, builder: dict[str, Any] | None = None) -> tuple[Run, str, str]:
        """The first run enqueued and dispatched, as stored; its build's id and image."""
        run = self.enqueue(builder)
        self.svc.dispatcher.dispatch("q")
        (build_id,) = self.builder.plans
        return self.svc.runs.get(run.id), build_id, self.builder.plans[build_id].image_uri

    def reasons(self, run_id: str) -> list[str]:
        return [event.reason for event in self.svc.runs.events(run_id)]
