"""The build state machine on the package's fakes: no buildah, no registry server, no CodeBuild.

``FakeBuilder`` and ``FakeRegistry`` pass the same contract suites as the real builders and
registries (``tests/contract/``), so what the service does with them is what it does with
buildah and an OCI registry (synchronous builds) or CodeBuild and ECR (asynchronous ones).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from launchq.adapters.builders.fake import FakeBuilder
from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.adapters.registries.fake import FakeRegistry
from launchq.adapters.schedulers.fake import FakeScheduleTrigger
from launchq.adapters.stores.memory import MemoryRunStore
from launchq.adapters.targets.fake import FakeTarget
from launchq.bootstrap import Services, build_services
from launchq.domain.models import Run, RunSpec
from launchq.domain.states import RunState
from launchq.service.context import Context, ServiceSettings
from launchq.service.queues import QueueCreate
from launchq.service.targets import TargetCatalog
from tests.unit.fakes import Clock


class ImageTarget(FakeTarget):
    """The fake target, running images: a run from code is built before it is submitted."""

    needs_image: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.images: dict[str, str | None] = {}  # run id -> the image it was submitted with

    def submit(self, run: Run) -> dict[str, str]:
        self.images[run.id] = run.spec.docker_image
        return super().submit(run)


class World:
    def __init__(self, tmp_path: Path, *, asynchronous: bool) -> None:
        self.registry = FakeRegistry("registry.test/team/train")
        self.builder = FakeBuilder(self.registry, asynchronous=asynchronous)
        self.target = ImageTarget()
        self.source = tmp_path / "src"
        self.source.mkdir()
        (self.source / "train.py").write_text("print('training')\n")
        ctx = Context(
            store=MemoryRunStore(),
            doorbell=InProcessDoorbell(),
            targets=TargetCatalog({self.target.resource: self.target}),
            builder=self.builder,
            trigger=FakeScheduleTrigger(),
            settings=ServiceSettings(lease_seconds=60, start_timeout_seconds=120),
            clock=Clock(),
            registry=self.registry,
            build_dir=tmp_path / "builds",
        )
        self.svc: Services = build_services(ctx)
        self.svc.queues.create(QueueCreate(name="q", resource="local-process", max_jobs=-1))

    def enqueue(self) -> str:
        run, _ = self.svc.runs.enqueue("q", RunSpec(uri=str(self.source), entry_point=["python", "train.py"]))
        return run.id

    def reasons(self, run_id: str) -> list[str]:
        return [event.reason for event in self.svc.runs.events(run_id)]


@pytest.fixture
def sync_world(tmp_path: Path) -> World:
    return World(tmp_path, asynchronous=False)


@pytest.fixture
def async_world(tmp_path: Path) -> World:
    return World(tmp_path, asynchronous=True)


def test_a_synchronous_build_pushes_once_and_a_second_run_reuses_the_image(sync_world: World) -> None:
    # GIVEN a run from code
    first = sync_world.enqueue()
    # WHEN it is dispatched
    (launched,) = sync_world.svc.dispatcher.dispatch("q")
    # THEN it was built, its image pushed, and it starts on that image
    (plan,) = sync_world.builder.plans.values()
    assert (launched.id, launched.state) == (first, RunState.STARTING)
    assert sync_world.registry.tags == {plan.tag}
    assert sync_world.target.images == {first: plan.image_uri}
    assert f"building {plan.image_uri} with fake" in sync_world.reasons(first)
    # AND a second run of the same code finds the image in the registry: no second build
    second = sync_world.enqueue()
    (again,) = sync_world.svc.dispatcher.dispatch("q")
    assert (again.id, again.state) == (second, RunState.STARTING)
    assert sync_world.target.images[second] == plan.image_uri
    assert len(sync_world.builder.plans) == 1
    assert f"image {plan.image_uri} is in the registry; no build" in sync_world.reasons(second)


def test_an_asynchronous_build_keeps_the_run_building_until_it_ends(async_world: World) -> None:
    # GIVEN a run whose build was started and is under way
    run_id = async_world.enqueue()
    async_world.svc.dispatcher.dispatch("q")
    building = async_world.svc.runs.get(run_id)
    assert building.state == RunState.BUILDING
    (build_id,) = async_world.builder.plans
    # WHEN the reconciler polls while the build runs  THEN the run stays building, nothing pushed
    async_world.svc.reconciler.poll_builds()
    assert async_world.svc.runs.get(run_id).state == RunState.BUILDING
    assert async_world.registry.tags == set()
    # WHEN the build ends and the reconciler polls again
    async_world.builder.finish(build_id)
    async_world.svc.reconciler.poll_builds()
    # THEN the run starts on the pushed image, its build log still reachable
    started = async_world.svc.runs.get(run_id)
    plan = async_world.builder.plans[build_id]
    assert started.state == RunState.STARTING
    assert async_world.target.images == {run_id: plan.image_uri}
    assert async_world.registry.tags == {plan.tag}
    _, log, _ = async_world.svc.runs.logs(run_id, source="build")
    assert f"ready: {plan.image_uri}" in log


def test_a_failed_asynchronous_build_dead_letters_the_run_with_its_detail(async_world: World) -> None:
    # GIVEN a build under way that will fail
    run_id = async_world.enqueue()
    async_world.svc.dispatcher.dispatch("q")
    (build_id,) = async_world.builder.plans
    async_world.builder.fail_with = "COPY failed: requirements.txt: no such file"
    # WHEN it ends and the reconciler polls
    async_world.builder.finish(build_id)
    async_world.svc.reconciler.poll_builds()
    # THEN the run is dead-lettered with the build's reason, nothing was pushed or submitted
    dead = async_world.svc.runs.get(run_id)
    assert (dead.state, dead.reason) == (
        RunState.DEAD_LETTER,
        "build failed: COPY failed: requirements.txt: no such file",
    )
    assert async_world.registry.tags == set()
    assert async_world.target.jobs == {}
