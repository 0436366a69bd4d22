"""The RunStore contract: one suite, run against every store adapter (see conftest ``store``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from launchq.domain.models import Queue, Run, RunUpdate, Schedule
from launchq.domain.priority import Priority
from launchq.domain.states import RunState
from launchq.errors import AlreadyExists, BackendUnavailable, Conflict, NotFound, StaleWrite
from launchq.ports import RunStore

MakeQueue = Callable[..., Queue]
MakeRun = Callable[..., Run]
MakeSchedule = Callable[..., Schedule]
S = RunState
T0 = datetime(2030, 1, 1, tzinfo=UTC)
LEASE = T0 + timedelta(minutes=5)


def claim_all(store: RunStore, queue: str = "gpu") -> list[str]:
    names: list[str] = []
    while (run := store.claim(queue, T0, LEASE)) is not None:
        names.append(run.spec.name or "")
    return names


# -- queues -------------------------------------------------------------------------------
def test_created_queues_are_read_back_and_listed_by_name(store: RunStore, make_queue: MakeQueue) -> None:
    # GIVEN two queues created out of name order
    gpu = make_queue("gpu", max_jobs=2)
    make_queue("cpu")
    # WHEN they are read back  THEN they equal what was written, listed by name
    assert store.get_queue("gpu") == gpu
    assert [queue.name for queue in store.list_queues()] == ["cpu", "gpu"]


def test_creating_a_queue_whose_name_is_taken_raises_already_exists(
    store: RunStore, make_queue: MakeQueue, new_queue: MakeQueue
) -> None:
    make_queue("gpu", max_jobs=1)
    with pytest.raises(AlreadyExists):
        store.create_queue(new_queue("gpu", max_jobs=5))
    assert store.get_queue("gpu").max_jobs == 1


def test_unknown_queue_raises_not_found_everywhere(
    store: RunStore, new_queue: MakeQueue, new_run: MakeRun
) -> None:
    # GIVEN an empty store  WHEN a missing queue is used  THEN NotFound
    with pytest.raises(NotFound):
        store.get_queue("nope")
    with pytest.raises(NotFound):
        store.update_queue(new_queue("nope"))
    with pytest.raises(NotFound):
        store.delete_queue("nope")
    with pytest.raises(NotFound):
        store.add_run(new_run("nope"))
    with pytest.raises(NotFound):
        store.claim("nope", T0, LEASE)


def test_update_queue_bumps_the_version_and_rejects_a_stale_one(
    store: RunStore, make_queue: MakeQueue
) -> None:
    # GIVEN a queue at version 1
    queue = make_queue("gpu", max_jobs=1)
    # WHEN it is updated at version 1  THEN it is stored at version 2
    updated = store.update_queue(queue.model_copy(update={"max_jobs": 4}))
    assert updated.version == 2
    assert store.get_queue("gpu").max_jobs == 4
    assert store.get_queue("gpu").version == 2
    # WHEN a second writer still holding version 1 writes  THEN StaleWrite and nothing changes
    with pytest.raises(StaleWrite):
        store.update_queue(queue.model_copy(update={"max_jobs": 9}))
    assert store.get_queue("gpu").max_jobs == 4


def test_delete_queue_refuses_while_runs_wait_or_hold_a_slot(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    # GIVEN a queue with one queued run
    make_queue("gpu")
    run = add_run("gpu")
    with pytest.raises(Conflict):
        store.delete_queue("gpu")
    # WHEN the run is claimed (active)  THEN still refused
    store.claim("gpu", T0, LEASE)
    with pytest.raises(Conflict):
        store.delete_queue("gpu")
    # WHEN the run is over  THEN the queue can go
    store.transition(run.id, S.CLAIMED, S.STOPPED, "stopped by user", T0)
    store.delete_queue("gpu")
    with pytest.raises(NotFound):
        store.get_queue("gpu")
    assert store.list_queues() == []


# -- adding runs --------------------------------------------------------------------------
def test_add_run_assigns_increasing_seq_and_records_the_enqueue(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    make_queue("gpu")
    make_queue("cpu")
    first, second, third = add_run("gpu"), add_run("cpu"), add_run("gpu")
    assert first.seq < second.seq < third.seq
    assert first.state is S.QUEUED
    assert store.get_run(first.id) == first
    [event] = store.events(first.id)
    assert (event.from_state, event.to_state, event.reason) == (None, S.QUEUED, "enqueued")


def test_same_idempotency_key_returns_the_existing_run_and_writes_nothing(
    store: RunStore, make_queue: MakeQueue, new_run: MakeRun
) -> None:
    # GIVEN a run enqueued with key "k1"
    make_queue("gpu")
    make_queue("cpu")
    original, created = store.add_run(new_run("gpu", idempotency_key="k1"))
    assert created
    # WHEN another run with the same key is added to the same queue
    again, created_again = store.add_run(new_run("gpu", idempotency_key="k1"))
    # THEN the first run comes back, not created, and only one run exists
    assert not created_again
    assert again == original
    assert len(store.list_runs(queue="gpu")) == 1
    # AND the key is per queue
    _, created_elsewhere = store.add_run(new_run("cpu", idempotency_key="k1"))
    assert created_elsewhere


def test_adding_a_run_id_twice_raises_already_exists(
    store: RunStore, make_queue: MakeQueue, new_run: MakeRun
) -> None:
    make_queue("gpu")
    run = new_run("gpu")
    store.add_run(run)
    with pytest.raises(AlreadyExists):
        store.add_run(run)


def test_unknown_run_raises_not_found(store: RunStore) -> None:
    with pytest.raises(NotFound):
        store.get_run("missing")
    with pytest.raises(NotFound):
        store.events("missing")
    with pytest.raises(NotFound):
        store.transition("missing", S.QUEUED, S.CLAIMED, "x", T0)


def test_runs_handed_out_are_copies(store: RunStore, make_queue: MakeQueue, add_run: MakeRun) -> None:
    make_queue("gpu")
    run = add_run("gpu")
    run.handle["job"] = "tampered"
    store.get_run(run.id).resolved["x"] = 1
    assert store.get_run(run.id).handle == {}
    assert store.get_run(run.id).resolved == {}


# -- claiming -----------------------------------------------------------------------------
def test_claim_takes_strict_priority_then_fifo(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    # GIVEN runs enqueued in mixed priority order
    make_queue("gpu")
    for name, priority in [
        ("low", Priority.LOW),
        ("medium-1", Priority.MEDIUM),
        ("critical", Priority.CRITICAL),
        ("medium-2", Priority.MEDIUM),
        ("high", Priority.HIGH),
        ("critical-2", Priority.CRITICAL),
    ]:
        add_run("gpu", priority, name=name)
    # WHEN everything is claimed  THEN priority 0 first, FIFO within a priority
    assert claim_all(store) == ["critical", "critical-2", "high", "medium-1", "medium-2", "low"]


def test_claim_only_takes_runs_of_its_queue(store: RunStore, make_queue: MakeQueue, add_run: MakeRun) -> None:
    make_queue("gpu")
    make_queue("cpu")
    add_run("cpu", Priority.CRITICAL, name="cpu-job")
    add_run("gpu", Priority.LOW, name="gpu-job")
    assert claim_all(store, "gpu") == ["gpu-job"]


def test_claim_moves_the_run_to_claimed_with_a_lease_and_an_event(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    make_queue("gpu")
    queued = add_run("gpu")
    claimed = store.claim("gpu", T0, LEASE)
    assert claimed is not None
    assert claimed.id == queued.id
    assert (claimed.state, claimed.version) == (S.CLAIMED, queued.version + 1)
    assert (claimed.claimed_at, claimed.lease_expires_at, claimed.updated_at) == (T0, LEASE, T0)
    assert store.get_run(queued.id) == claimed
    last = store.events(queued.id)[-1]
    assert (last.from_state, last.to_state, last.reason) == (S.QUEUED, S.CLAIMED, "claimed by dispatcher")


def test_the_claim_event_names_who_claimed_the_run(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    # GIVEN a queued run
    make_queue("gpu")
    queued = add_run("gpu")
    # WHEN an agent (named with its host and pid) claims it
    claimed = store.claim("gpu", T0, LEASE, claimer="agent gpu-box-4242")
    # THEN its history says who took it
    assert claimed is not None
    assert claimed.id == queued.id
    assert store.events(queued.id)[-1].reason == "claimed by agent gpu-box-4242"
    assert store.get_run(queued.id).reason == "claimed by agent gpu-box-4242"


def test_claim_returns_none_on_an_empty_queue(store: RunStore, make_queue: MakeQueue) -> None:
    make_queue("gpu")
    assert store.claim("gpu", T0, LEASE) is None


def test_claim_respects_max_jobs_and_frees_the_slot_when_a_run_ends(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    # GIVEN a queue limited to 2 with 3 runs waiting
    make_queue("gpu", max_jobs=2)
    runs = [add_run("gpu") for _ in range(3)]
    # WHEN claiming three times  THEN only two succeed
    first, second = store.claim("gpu", T0, LEASE), store.claim("gpu", T0, LEASE)
    assert first is not None
    assert second is not None
    assert store.claim("gpu", T0, LEASE) is None
    assert store.count_active("gpu") == 2
    assert store.count_queued("gpu") == 1
    # WHEN one moves through building (still active)  THEN still full
    store.transition(first.id, S.CLAIMED, S.BUILDING, "building image", T0)
    assert store.claim("gpu", T0, LEASE) is None
    # WHEN it fails (terminal)  THEN the slot frees and the third run is claimed
    store.transition(first.id, S.BUILDING, S.FAILED, "build failed", T0)
    assert store.count_active("gpu") == 1
    third = store.claim("gpu", T0, LEASE)
    assert third is not None
    assert third.id == runs[2].id
    assert store.count_queued("gpu") == 0


def test_unlimited_queue_claims_everything(store: RunStore, make_queue: MakeQueue, add_run: MakeRun) -> None:
    make_queue("gpu", max_jobs=-1)
    for index in range(25):
        add_run("gpu", name=str(index))
    assert claim_all(store) == [str(index) for index in range(25)]
    assert store.count_active("gpu") == 25


def test_requeued_run_keeps_its_place_in_line(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    # GIVEN three medium runs; the first is claimed and a later high run arrives
    make_queue("gpu")
    first = add_run("gpu", name="first")
    add_run("gpu", name="second")
    store.claim("gpu", T0, LEASE)
    add_run("gpu", name="third")
    # WHEN the first is requeued (lease lost)
    requeued = store.transition(
        first.id, S.CLAIMED, S.QUEUED, "lease expired", T0, RunUpdate(clear_lease=True)
    )
    # THEN it keeps its seq, is first in line again and is claimed before the others
    assert requeued.seq == first.seq
    assert (requeued.claimed_at, requeued.lease_expires_at) == (None, None)
    assert store.position(requeued) == 1
    assert claim_all(store) == ["first", "second", "third"]


def test_concurrent_claims_from_threads_never_share_a_run(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    make_queue("gpu")
    expected = {add_run("gpu").id for _ in range(120)}
    got: list[str] = []
    errors: list[Exception] = []
    lock = threading.Lock()

    def claim() -> Run | None:
        for _ in range(20):  # BackendUnavailable is documented as safe to retry
            try:
                return store.claim("gpu", T0, LEASE)
            except BackendUnavailable:
                time.sleep(0.05)
        raise BackendUnavailable("claims kept losing for 20 retries")

    def worker() -> None:
        try:
            while (run := claim()) is not None:
                with lock:
                    got.append(run.id)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(got) == sorted(expected)


# -- transitions --------------------------------------------------------------------------
def test_transition_with_a_wrong_expected_state_raises_stale_write(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    # GIVEN a queued run  WHEN someone expects it to be claimed  THEN StaleWrite, unchanged
    make_queue("gpu")
    run = add_run("gpu")
    with pytest.raises(StaleWrite):
        store.transition(run.id, S.CLAIMED, S.BUILDING, "build", T0)
    assert store.get_run(run.id) == run
    assert len(store.events(run.id)) == 1


def test_disallowed_transition_raises_conflict(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    make_queue("gpu")
    run = add_run("gpu")
    with pytest.raises(Conflict) as queued_to_running:
        store.transition(run.id, S.QUEUED, S.RUNNING, "skip ahead", T0)
    assert not isinstance(queued_to_running.value, StaleWrite)
    store.transition(run.id, S.QUEUED, S.CANCELLED, "cancelled by user", T0)
    with pytest.raises(Conflict):
        store.transition(run.id, S.CANCELLED, S.QUEUED, "revive", T0)
    assert store.get_run(run.id).state is S.CANCELLED


def test_transition_applies_the_update_and_bumps_version(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    make_queue("gpu")
    run = add_run("gpu")
    store.claim("gpu", T0, LEASE)
    later = T0 + timedelta(seconds=30)
    update = RunUpdate(handle={"pid": "42"}, resolved={"cpus": 2}, started_at=later)
    starting = store.transition(run.id, S.CLAIMED, S.STARTING, "submitted", later, update)
    assert (starting.state, starting.version, starting.reason) == (S.STARTING, run.version + 2, "submitted")
    assert (starting.handle, starting.resolved, starting.started_at) == ({"pid": "42"}, {"cpus": 2}, later)
    assert starting.updated_at == later
    assert starting.claimed_at == T0  # left alone: not in the update
    done = store.transition(
        run.id, S.STARTING, S.FINISHED, "exit 0", later, RunUpdate(exit_code=0, finished_at=later)
    )
    assert (done.exit_code, done.finished_at, done.handle) == (0, later, {"pid": "42"})
    assert store.get_run(run.id) == done


def test_events_are_recorded_oldest_first_with_reasons(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    # GIVEN a run taken through its whole life
    make_queue("gpu")
    run = add_run("gpu")
    store.claim("gpu", T0, LEASE)
    for expected, to, reason in [
        (S.CLAIMED, S.STARTING, "submitted"),
        (S.STARTING, S.RUNNING, "pod running"),
        (S.RUNNING, S.FINISHED, "exit code 0"),
    ]:
        store.transition(run.id, expected, to, reason, T0)
    # WHEN its events are read  THEN they tell the story in order
    history = [(event.from_state, event.to_state, event.reason) for event in store.events(run.id)]
    assert history == [
        (None, S.QUEUED, "enqueued"),
        (S.QUEUED, S.CLAIMED, "claimed by dispatcher"),
        (S.CLAIMED, S.STARTING, "submitted"),
        (S.STARTING, S.RUNNING, "pod running"),
        (S.RUNNING, S.FINISHED, "exit code 0"),
    ]
    assert all(event.run_id == run.id for event in store.events(run.id))
    with pytest.raises(Conflict):
        store.transition(run.id, S.FINISHED, S.RUNNING, "zombie", T0)


# -- reading runs -------------------------------------------------------------------------
def test_position_counts_queued_runs_ahead_by_priority_then_seq(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    make_queue("gpu")
    make_queue("cpu")
    low = add_run("gpu", Priority.LOW)
    medium = add_run("gpu", Priority.MEDIUM)
    add_run("cpu", Priority.CRITICAL)  # another queue: never ahead
    critical = add_run("gpu", Priority.CRITICAL)
    medium_2 = add_run("gpu", Priority.MEDIUM)
    assert [store.position(run) for run in (critical, medium, medium_2, low)] == [1, 2, 3, 4]
    claimed = store.claim("gpu", T0, LEASE)
    assert claimed is not None
    assert claimed.id == critical.id
    assert store.position(critical) is None
    assert [store.position(run) for run in (medium, medium_2, low)] == [1, 2, 3]


def test_positions_of_a_page_agree_with_position_run_by_run(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    # GIVEN two queues with runs of mixed priorities, one claimed and one requeued behind others
    make_queue("gpu")
    make_queue("cpu")
    gpu = [
        add_run("gpu", priority) for priority in (Priority.LOW, Priority.MEDIUM, Priority.HIGH, Priority.LOW)
    ]
    cpu = [add_run("cpu", priority) for priority in (Priority.MEDIUM, Priority.CRITICAL)]
    claimed = store.claim("gpu", T0, LEASE)  # the high one
    assert claimed is not None
    requeue = store.claim("cpu", T0, LEASE)  # the critical one, back in line at its place
    assert requeue is not None
    store.transition(requeue.id, S.CLAIMED, S.QUEUED, "lease expired", T0)
    page = store.list_runs()

    # WHEN the positions of the whole page are asked at once
    places = store.positions(page)

    # THEN they are what position says run by run, and runs not queued are left out
    expected = {run.id: place for run in page if (place := store.position(run)) is not None}
    assert places == expected
    assert places == {gpu[1].id: 1, gpu[0].id: 2, gpu[3].id: 3, cpu[1].id: 1, cpu[0].id: 2}
    assert claimed.id not in places


def test_positions_reflect_the_line_now_not_the_states_the_runs_were_read_in(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    # GIVEN runs read while queued, then the first claimed by a dispatcher
    make_queue("gpu")
    first, second, third = add_run("gpu"), add_run("gpu"), add_run("gpu")
    assert store.claim("gpu", T0, LEASE) is not None
    # WHEN the stale copies' positions are asked (a subset, out of order)
    places = store.positions([third, first])
    # THEN the claimed run has none, and the others count only runs still queued
    assert places == {third.id: 2}
    assert store.positions([second]) == {second.id: 1}
    assert store.positions([]) == {}


def test_list_runs_filters_by_queue_and_states_newest_first(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    make_queue("gpu")
    make_queue("cpu")
    gpu_1, cpu_1, gpu_2, gpu_3 = add_run("gpu"), add_run("cpu"), add_run("gpu"), add_run("gpu")
    store.claim("gpu", T0, LEASE)  # takes gpu_1

    def ids(queue: str | None = None, states: list[RunState] | None = None, limit: int = 1000) -> list[str]:
        return [run.id for run in store.list_runs(queue=queue, states=states, limit=limit)]

    assert ids() == [gpu_3.id, gpu_2.id, cpu_1.id, gpu_1.id]
    assert ids(queue="gpu") == [gpu_3.id, gpu_2.id, gpu_1.id]
    assert ids(queue="gpu", states=[S.QUEUED]) == [gpu_3.id, gpu_2.id]
    assert ids(states=[S.CLAIMED, S.RUNNING]) == [gpu_1.id]
    assert ids(states=[S.QUEUED], limit=2) == [gpu_3.id, gpu_2.id]
    assert ids(queue="other") == []
    assert ids(states=[]) == []


# -- schedules ----------------------------------------------------------------------------
def test_schedules_are_created_read_listed_and_deleted(store: RunStore, new_schedule: MakeSchedule) -> None:
    nightly = new_schedule("nightly")
    store.create_schedule(new_schedule("hourly"))
    store.create_schedule(nightly)
    assert store.get_schedule("nightly") == nightly
    assert [schedule.name for schedule in store.list_schedules()] == ["hourly", "nightly"]
    with pytest.raises(AlreadyExists):
        store.create_schedule(new_schedule("nightly"))
    store.delete_schedule("nightly")
    with pytest.raises(NotFound):
        store.get_schedule("nightly")
    with pytest.raises(NotFound):
        store.delete_schedule("nightly")
    assert [schedule.name for schedule in store.list_schedules()] == ["hourly"]


def test_advance_schedule_is_a_conditional_write(store: RunStore, new_schedule: MakeSchedule) -> None:
    # GIVEN a schedule due at 03:00
    due = datetime(2030, 1, 1, 3, tzinfo=UTC)
    store.create_schedule(new_schedule("nightly", next_fire_at=due))
    tomorrow = due + timedelta(days=1)
    # WHEN one firer advances it  THEN next fire and last run are stored
    store.advance_schedule("nightly", due, tomorrow, "run-1")
    advanced = store.get_schedule("nightly")
    assert (advanced.next_fire_at, advanced.last_run_id) == (tomorrow, "run-1")
    # WHEN a second firer still expecting 03:00 tries  THEN StaleWrite and nothing changes
    with pytest.raises(StaleWrite):
        store.advance_schedule("nightly", due, tomorrow + timedelta(days=1), "run-2")
    assert store.get_schedule("nightly").last_run_id == "run-1"
    with pytest.raises(NotFound):
        store.advance_schedule("missing", due, tomorrow, "run-3")
