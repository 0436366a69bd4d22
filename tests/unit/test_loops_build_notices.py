"""An asynchronous build that ends moves its run on at once in local mode (``Builder.watch``).

The reconciler ticks once when the loops start and then only every 60 s here, so a run
that leaves ``building`` within seconds of its build ending was moved by the builder's
notice, not by polling.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.domain.models import Run
from launchq.domain.states import RunState
from launchq.local.loops import Loops
from tests.unit.build_world import World


def wait_for(world: World, run_id: str, leaves: RunState, seconds: float = 10.0) -> Run:
    """The run once it is no longer in ``leaves`` (or as it is after ``seconds``)."""
    deadline = time.monotonic() + seconds
    run = world.svc.runs.get(run_id)
    while run.state == leaves and time.monotonic() < deadline:
        time.sleep(0.02)
        run = world.svc.runs.get(run_id)
    return run


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path, asynchronous=True)
    doorbell = world.svc.ctx.doorbell
    assert isinstance(doorbell, InProcessDoorbell)
    loops = Loops(world.svc, doorbell, poll_interval=60)
    loops.start()
    try:
        yield world
    finally:
        loops.stop()
    assert world.builder._notify is None  # stopping the loops ends the notices


@pytest.mark.parametrize(
    ("fail_with", "after"), [(None, RunState.STARTING), ("no space left", RunState.DEAD_LETTER)]
)
def test_a_build_that_ends_moves_its_run_without_waiting_for_the_reconciler(
    world: World, fail_with: str | None, after: RunState
) -> None:
    # GIVEN a run whose asynchronous build the dispatcher thread started
    run = world.enqueue()
    building = wait_for(world, run.id, RunState.QUEUED)
    assert building.state == RunState.BUILDING
    assert building.build_id
    world.builder.fail_with = fail_with
    # WHEN the build ends
    world.builder.finish(building.build_id)
    # THEN the run moves on at once: submitted with its image, or dead-lettered with the build's words
    moved = wait_for(world, run.id, RunState.BUILDING)
    assert moved.state == after
    if fail_with:
        assert fail_with in (moved.reason or "")
    else:
        assert world.target.images[run.id] == world.builder.plans[building.build_id].image_uri
