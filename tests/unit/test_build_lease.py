"""A synchronous build holds its run's lease while it runs, and a build whose dispatcher died
goes back in line when the lease runs out (``service.leases``, ``Reconciler.poll_builds``),
on the package's fakes (``tests/unit/build_world.py``): memory store, fake builder and target."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from launchq.domain.models import Run, RunSpec, RunUpdate
from launchq.domain.states import RunState as S
from launchq.service.context import ServiceSettings
from tests.unit.build_world import World
from tests.unit.fakes import Clock

T = TypeVar("T")
LEASE = 0.3  # seconds: renewed every 0.1 s of real time; the lease's end is on the fake clock


def world_with_lease(tmp_path: Path) -> World:
    world = World(tmp_path, asynchronous=False)
    world.svc.ctx.settings = ServiceSettings(lease_seconds=LEASE)
    return world


def clock_of(world: World) -> Clock:
    clock = world.svc.ctx.clock
    assert isinstance(clock, Clock)
    return clock


class Held:
    """A call (a build, a submit) held until the test releases it, on a dispatching thread."""

    def __init__(self) -> None:
        self.started, self.release = threading.Event(), threading.Event()

    def around(self, call: Callable[..., T]) -> Callable[..., T]:
        def held(*args: Any) -> T:
            self.started.set()
            assert self.release.wait(10)
            return call(*args)

        return held

    def dispatching(self, world: World) -> threading.Thread:
        """Queue ``q`` dispatched on a thread of its own, once the held call has started."""
        thread = threading.Thread(target=world.svc.dispatcher.dispatch, args=("q",))
        thread.start()
        assert self.started.wait(10)
        return thread


def after_ten_leases(world: World, run: Run) -> None:
    """Ten leases pass on the clock; once the dispatcher's renewal has caught up (real time,
    renewed every third of a lease), the reconciler looks."""
    clock = clock_of(world)
    clock.advance(10 * LEASE)
    deadline = time.monotonic() + 5
    while (world.svc.runs.get(run.id).lease_expires_at or clock()) <= clock() and time.monotonic() < deadline:
        time.sleep(0.02)
    world.svc.reconciler.tick()


def test_a_build_longer_than_its_lease_keeps_its_run(tmp_path: Path) -> None:
    # GIVEN a synchronous build that runs until the test lets it finish
    world = world_with_lease(tmp_path)
    clock, held = clock_of(world), Held()
    world.builder.start = held.around(world.builder.start)  # type: ignore[method-assign]
    run = world.enqueue()
    dispatching = held.dispatching(world)
    # WHEN far more than one lease passes while it builds
    after_ten_leases(world, run)
    # THEN the lease was renewed and the run is still its dispatcher's, building
    building = world.svc.runs.get(run.id)
    assert building.state is S.BUILDING
    assert building.lease_expires_at is not None
    assert building.lease_expires_at > clock()
    # AND the build ends in a launch
    held.release.set()
    dispatching.join(10)
    assert world.svc.runs.get(run.id).state is S.STARTING


def test_a_build_whose_dispatcher_died_goes_back_to_its_place_and_is_built_again(tmp_path: Path) -> None:
    # GIVEN a run claimed and moved to building, then its dispatcher died (no more renewals),
    # and a run enqueued after it
    world = world_with_lease(tmp_path)
    clock, store = clock_of(world), world.store
    first = world.enqueue()
    claimed = store.claim("q", clock(), clock() + timedelta(seconds=LEASE))
    assert claimed is not None
    world.svc.reconciler.moves.move(claimed, S.BUILDING, "building", RunUpdate(image_uri="registry.test/x:1"))
    later = world.enqueue()
    # WHEN its lease runs out and the reconciler looks
    clock.advance(2 * LEASE)
    world.svc.reconciler.tick()
    # THEN it is back in line, ahead of the later run, its lease cleared
    back = world.svc.runs.get(first.id)
    assert (back.state, back.lease_expires_at) == (S.QUEUED, None)
    assert world.svc.runs.position(back) == 1
    assert world.svc.runs.position(world.svc.runs.get(later.id)) == 2
    assert world.reasons(first.id)[-1] == "build interrupted (its dispatcher stopped); back in line"
    # AND the next dispatch builds it again and launches it first
    world.svc.dispatcher.dispatch("q", limit=1)
    assert world.svc.runs.get(first.id).state is S.STARTING


def test_a_build_claimed_again_after_a_stale_look_is_not_requeued(tmp_path: Path) -> None:
    # GIVEN a building run whose lease ran out, as one reconciler read it ...
    world = world_with_lease(tmp_path)
    clock, store, moves = clock_of(world), world.store, world.svc.reconciler.moves
    world.enqueue()
    claimed = store.claim("q", clock(), clock() + timedelta(seconds=LEASE))
    assert claimed is not None
    stale = moves.move(claimed, S.BUILDING, "building", RunUpdate(image_uri="registry.test/x:1"))
    clock.advance(2 * LEASE)
    # ... and meanwhile another reconciler requeued it, and a dispatcher claimed it and is building it again
    moves.move(stale, S.QUEUED, "build interrupted", RunUpdate(clear_lease=True))
    again = store.claim("q", clock(), clock() + timedelta(seconds=10 * LEASE))
    assert again is not None
    fresh = moves.move(again, S.BUILDING, "building", RunUpdate(image_uri="registry.test/x:1"))
    # WHEN the first reconciler acts on what it read
    real_list = store.list_runs
    store.list_runs = lambda **kw: [stale] if kw.get("states") == [S.BUILDING] else real_list(**kw)  # type: ignore[method-assign]
    world.svc.reconciler.poll_builds()
    # THEN the new build keeps its run: it is neither requeued nor launched a second time
    now = world.svc.runs.get(fresh.id)
    assert now.state is S.BUILDING
    assert now.version == fresh.version


def test_a_submit_longer_than_its_lease_keeps_its_run(tmp_path: Path) -> None:
    # GIVEN a target whose submit runs until the test lets it return (an image run: no build)
    world = world_with_lease(tmp_path)
    clock, held = clock_of(world), Held()
    world.target.submit = held.around(world.target.submit)  # type: ignore[method-assign]
    run, _ = world.svc.runs.enqueue("q", RunSpec(docker_image="registry.test/team/train:1"))
    dispatching = held.dispatching(world)
    # WHEN far more than one lease passes while it submits, and the reconciler looks
    after_ten_leases(world, run)
    # THEN the run is still its dispatcher's, claimed with a lease renewed past now: not back in line
    claimed = world.svc.runs.get(run.id)
    assert claimed.state is S.CLAIMED
    assert claimed.lease_expires_at is not None
    assert claimed.lease_expires_at > clock()
    # AND the submit's end records the launch, once
    held.release.set()
    dispatching.join(10)
    assert world.svc.runs.get(run.id).state is S.STARTING
    assert list(world.target.submitted) == [run.id]
