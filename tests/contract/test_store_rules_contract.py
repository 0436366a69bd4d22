"""The RunStore contract, continued: the edges the main suite leaves open.

A one-slot queue (the common "one GPU" case, and the boundary of the ``max_jobs`` check),
and what each refusal says: the HTTP layer turns ``field`` and ``detail`` into the error
body, so every store must name the same field with the same words. Runs against every
store adapter (see conftest ``store``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from launchq.domain.models import RunUpdate
from launchq.domain.states import RunState as S
from launchq.errors import AlreadyExists, Conflict, LaunchqError, NotFound, StaleWrite
from launchq.ports import RunStore
from tests.contract.conftest import MakeQueue, MakeRun, MakeSchedule
from tests.contract.test_store_contract import LEASE, T0


def said(error: type[LaunchqError], call: Callable[..., object], *args: object) -> tuple[str | None, str]:
    with pytest.raises(error) as caught:
        call(*args)
    return caught.value.field, caught.value.detail


def test_a_one_slot_queue_runs_one_at_a_time(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    # GIVEN a queue with one slot and two runs waiting
    make_queue("gpu", max_jobs=1)
    first, second = add_run("gpu"), add_run("gpu")
    # WHEN claiming  THEN the first is claimed and the second waits while it holds the slot
    claimed = store.claim("gpu", T0, LEASE)
    assert claimed is not None
    assert claimed.id == first.id
    assert store.claim("gpu", T0, LEASE) is None
    store.transition(first.id, S.CLAIMED, S.STARTING, "submitted", T0)
    assert store.claim("gpu", T0, LEASE) is None
    assert store.count_queued("gpu") == 1
    # WHEN the first run ends  THEN the second takes the slot
    store.transition(first.id, S.STARTING, S.FINISHED, "exit 0", T0)
    claimed_next = store.claim("gpu", T0, LEASE)
    assert claimed_next is not None
    assert claimed_next.id == second.id


def test_an_updated_queue_shares_nothing_with_the_one_passed_in(
    store: RunStore, make_queue: MakeQueue
) -> None:
    queue = make_queue("gpu").model_copy(update={"config": {"env": {"A": "1"}}})
    updated = store.update_queue(queue)
    updated.config["env"]["A"] = "changed"
    assert queue.config == {"env": {"A": "1"}}
    assert store.get_queue("gpu").config == {"env": {"A": "1"}}


def test_missing_records_are_not_found_naming_what_is_missing(store: RunStore, new_run: MakeRun) -> None:
    assert said(NotFound, store.get_queue, "nope") == ("queue", "queue 'nope' does not exist")
    assert said(NotFound, store.delete_queue, "nope") == ("queue", "queue 'nope' does not exist")
    assert said(NotFound, store.add_run, new_run("nope")) == ("queue", "queue 'nope' does not exist")
    assert said(NotFound, store.claim, "nope", T0, LEASE) == ("queue", "queue 'nope' does not exist")
    assert said(NotFound, store.get_run, "r0") == ("run", "run 'r0' does not exist")
    assert said(NotFound, store.events, "r0") == ("run", "run 'r0' does not exist")
    assert said(NotFound, store.get_schedule, "nightly") == ("schedule", "schedule 'nightly' does not exist")
    assert said(NotFound, store.delete_schedule, "nightly") == (
        "schedule",
        "schedule 'nightly' does not exist",
    )


def test_taken_names_and_ids_are_already_exists_naming_the_field(
    store: RunStore, make_queue: MakeQueue, new_queue: MakeQueue, new_run: MakeRun, new_schedule: MakeSchedule
) -> None:
    make_queue("gpu")
    run = new_run("gpu")
    store.add_run(run)
    store.create_schedule(new_schedule("nightly"))
    assert said(AlreadyExists, store.create_queue, new_queue("gpu")) == ("name", "queue 'gpu' already exists")
    assert said(AlreadyExists, store.add_run, run) == ("id", f"run {run.id!r} already exists")
    assert said(AlreadyExists, store.create_schedule, new_schedule("nightly")) == (
        "name",
        "schedule 'nightly' already exists",
    )


def test_lost_conditional_writes_name_the_field_that_moved(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun, new_schedule: MakeSchedule
) -> None:
    queue = make_queue("gpu")
    store.update_queue(queue)
    assert said(StaleWrite, store.update_queue, queue) == ("version", "queue 'gpu' is at version 2, not 1")
    run = add_run("gpu")
    assert said(StaleWrite, store.transition, run.id, S.CLAIMED, S.STARTING, "x", T0)[0] == "state"
    assert said(Conflict, store.transition, run.id, S.QUEUED, S.RUNNING, "x", T0) == (
        "state",
        "a run cannot go from queued to running",
    )
    assert said(Conflict, store.delete_queue, "gpu") == (
        "name",
        "queue 'gpu' still holds 1 queued or active runs",
    )
    schedule = new_schedule("nightly", next_fire_at=T0)
    store.create_schedule(schedule)
    later = T0 + timedelta(days=1)
    assert said(StaleWrite, store.advance_schedule, "nightly", later, later, run.id) == (
        "next_fire_at",
        f"schedule 'nightly' next fires at {T0.isoformat()}, not {later.isoformat()}",
    )


def test_a_preempted_run_goes_back_to_its_place_in_line_with_its_count(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    # GIVEN a one-slot queue: the first run running, a later run of the same priority waiting
    make_queue("gpu", max_jobs=1)
    first = add_run("gpu")
    claimed = store.claim("gpu", T0, LEASE)
    assert claimed is not None
    assert claimed.id == first.id
    store.transition(first.id, S.CLAIMED, S.STARTING, "submitted", T0, RunUpdate(clear_lease=True))
    store.transition(first.id, S.STARTING, S.RUNNING, "running", T0)
    later = add_run("gpu")
    # WHEN the target takes it away and the service requeues it
    preempted = store.transition(
        first.id, S.RUNNING, S.PREEMPTED, "preempted (1 of 3): evicted", T0, RunUpdate(preemptions=1)
    )
    assert (preempted.preemptions, store.count_active("gpu")) == (1, 0)
    requeued = store.transition(first.id, S.PREEMPTED, S.QUEUED, "back in line", T0)
    # THEN it keeps its seq, priority and count, and waits ahead of the later run
    read = store.get_run(first.id)
    assert (read.seq, read.priority, read.preemptions) == (first.seq, first.priority, 1)
    assert requeued.seq == first.seq
    assert (store.position(read), store.position(later)) == (1, 2)
    assert store.positions([read, later]) == {first.id: 1, later.id: 2}
    again = store.claim("gpu", T0, LEASE)
    assert again is not None
    assert (again.id, again.preemptions) == (first.id, 1)
