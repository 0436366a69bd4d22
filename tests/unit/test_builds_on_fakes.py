"""The build state machine on the package's fakes: no buildah, no registry server, no CodeBuild.

``FakeBuilder`` and ``FakeRegistry`` pass the same contract suites as the real builders and
registries (``tests/contract/``), so what the service does with them is what it does with
buildah and an OCI registry (synchronous builds) or CodeBuild and ECR (asynchronous ones).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from launchq.domain.states import RunState
from tests.unit.build_world import World


@pytest.fixture
def sync_world(tmp_path: Path) -> World:
    return World(tmp_path, asynchronous=False)


@pytest.fixture
def async_world(tmp_path: Path) -> World:
    return World(tmp_path, asynchronous=True)


def test_a_synchronous_build_pushes_once_and_a_second_run_reuses_the_image(sync_world: World) -> None:
    # GIVEN a run from code
    first = sync_world.enqueue().id
    # WHEN it is dispatched
    (launched,) = sync_world.svc.dispatcher.dispatch("q")
    # THEN it was built, its image pushed, and it starts on that image
    (plan,) = sync_world.builder.plans.values()
    assert (launched.id, launched.state) == (first, RunState.STARTING)
    assert sync_world.registry.tags == {plan.tag}
    assert sync_world.target.images == {first: plan.image_uri}
    assert f"building {plan.image_uri} with fake" in sync_world.reasons(first)
    # AND a second run of the same code finds the image in the registry: no second build
    second = sync_world.enqueue().id
    (again,) = sync_world.svc.dispatcher.dispatch("q")
    assert (again.id, again.state) == (second, RunState.STARTING)
    assert sync_world.target.images[second] == plan.image_uri
    assert len(sync_world.builder.plans) == 1
    assert f"image {plan.image_uri} is in the registry; no build" in sync_world.reasons(second)


def test_an_asynchronous_build_keeps_the_run_building_until_it_ends(async_world: World) -> None:
    # GIVEN a run whose build was started and is under way
    run_id = async_world.enqueue().id
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
    run_id = async_world.enqueue().id
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
