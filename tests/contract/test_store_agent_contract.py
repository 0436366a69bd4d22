"""The RunStore contract for agents pulling over HTTP, run against every store adapter.

An agent reports moves at the version it holds (``expected_version``), heartbeats with
``renew_lease`` and ships a log tail; the routes rely on the event list having one entry
per version, so a retried report can be recognised from ``events[version]``.
"""

from __future__ import annotations

import contextlib
import functools
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from launchq.domain.models import Queue, Run, RunUpdate
from launchq.domain.states import RunState
from launchq.errors import NotFound, StaleWrite
from launchq.port_values import LOG_TAIL_CHARS
from launchq.ports import LogTail, RunStore

MakeQueue = Callable[..., Queue]
MakeRun = Callable[..., Run]
S = RunState
T0 = datetime(2030, 1, 1, tzinfo=UTC)
LEASE = T0 + timedelta(minutes=2)
LATER = T0 + timedelta(minutes=10)


def claimed(store: RunStore, queue: str = "gpu") -> Run:
    run = store.claim(queue, T0, LEASE)
    assert run is not None
    return run


def expired(store: RunStore, run_id: str) -> Run:
    """The claimed run back in line, as the reconciler moves a run whose lease expired."""
    return store.transition(run_id, S.CLAIMED, S.QUEUED, "lease expired", T0, RunUpdate(clear_lease=True))


def at_once(*calls: Callable[[], object]) -> None:
    """Run ``calls`` on threads released together, and wait for all of them."""
    start = threading.Barrier(len(calls))

    def go(call: Callable[[], object]) -> None:
        start.wait()
        call()

    threads = [threading.Thread(target=go, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def reclaimed(store: RunStore, run: Run) -> Run:
    """``run`` (claimed) after its lease expired and another agent claimed it again."""
    expired(store, run.id)
    again = claimed(store, run.queue)
    assert again.id == run.id
    return again


@pytest.fixture
def held(store: RunStore, make_queue: MakeQueue, add_run: MakeRun) -> Run:
    """A run an agent claimed (version 2) from the unlimited queue ``gpu``."""
    make_queue("gpu")
    add_run("gpu")
    return claimed(store)


# -- expected_version ---------------------------------------------------------------------
def test_a_move_at_the_version_held_is_made(store: RunStore, held: Run) -> None:
    # GIVEN a claimed run at version 2
    assert held.version == 2
    # WHEN an agent moves it naming version 2  THEN it moves and its version is 3
    moved = store.transition(held.id, S.CLAIMED, S.STARTING, "submitted", T0, expected_version=2)
    assert (moved.state, moved.version) == (S.STARTING, 3)
    assert store.get_run(held.id).state is S.STARTING


def test_a_move_at_a_version_the_run_left_is_refused_and_changes_nothing(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    # GIVEN an agent that claimed a run at version 2, whose lease expired: the run was
    # requeued and another agent claimed it (version 4), on a queue of one slot
    make_queue("gpu", max_jobs=1)
    add_run("gpu")
    waiting = add_run("gpu")
    first = claimed(store)
    now_held = reclaimed(store, first)
    assert now_held.version == 4
    events_before = store.events(first.id)
    # WHEN the first agent reports a move at version 2 (same state, so only the version differs)
    with pytest.raises(StaleWrite) as stale:
        store.transition(first.id, S.CLAIMED, S.STOPPED, "done", T0, expected_version=2)
    # THEN StaleWrite on the version, and the run, its events and its slot are untouched
    assert stale.value.field == "version"
    assert store.get_run(first.id) == now_held
    assert store.events(first.id) == events_before
    assert store.count_active("gpu") == 1
    assert store.claim("gpu", T0, LEASE) is None
    assert store.get_run(waiting.id).state is S.QUEUED


@pytest.mark.parametrize(
    ("source", "target", "version", "field"),
    [(S.CLAIMED, S.STARTING, 3, "version"), (S.STARTING, S.RUNNING, 2, "state")],
    ids=["a-version-ahead", "the-state-is-still-checked"],
)
def test_a_move_not_at_the_state_and_version_named_is_refused(
    store: RunStore, held: Run, source: RunState, target: RunState, version: int, field: str
) -> None:
    # GIVEN a claimed run at version 2  WHEN a move names another version, or another state
    with pytest.raises(StaleWrite) as stale:
        store.transition(held.id, source, target, "reported", T0, expected_version=version)
    # THEN StaleWrite naming what differed, and nothing written
    assert stale.value.field == field
    assert store.get_run(held.id) == held
    assert len(store.events(held.id)) == 2


def test_of_agents_racing_to_report_one_version_exactly_one_wins(store: RunStore, held: Run) -> None:
    run = held
    outcomes: list[str] = []

    def report() -> None:
        try:
            store.transition(run.id, S.CLAIMED, S.STARTING, "submitted", T0, expected_version=2)
        except StaleWrite:
            outcomes.append("stale")
        else:
            outcomes.append("moved")

    at_once(*[report] * 6)
    assert sorted(outcomes) == ["moved"] + ["stale"] * 5
    assert store.get_run(run.id).version == 3
    assert len(store.events(run.id)) == 3


# -- renew_lease ----------------------------------------------------------------------
@pytest.mark.parametrize("building", [False, True], ids=["claimed", "building"])
def test_a_renewal_extends_the_lease_without_a_version_bump_or_an_event(
    store: RunStore, held: Run, building: bool
) -> None:
    # GIVEN a run holding a lease (claimed, or building its image)
    run = held
    if building:
        run = store.transition(run.id, S.CLAIMED, S.BUILDING, "building", T0)
    events_before = store.events(run.id)
    # WHEN its agent renews the lease at the version it holds
    renewed = store.renew_lease(run.id, run.version, LATER)
    # THEN the lease ends later; nothing else about the run changed, and no event was written
    assert renewed.lease_expires_at == LATER
    assert renewed == run.model_copy(update={"lease_expires_at": LATER})
    assert store.get_run(run.id) == renewed
    assert store.events(run.id) == events_before
    # AND the agent's next report at that version still goes through
    moved = store.transition(run.id, run.state, S.STARTING, "submitted", T0, expected_version=run.version)
    assert moved.version == run.version + 1
    assert moved.lease_expires_at == LATER


def test_a_renewal_at_another_version_is_refused_and_changes_nothing(store: RunStore, held: Run) -> None:
    # GIVEN a run whose first claim expired and that another agent holds now (version 4)
    first = held
    now_held = reclaimed(store, first)
    # WHEN the first agent's heartbeat names version 2 (or one ahead)  THEN StaleWrite, no change
    for version in (first.version, now_held.version + 1):
        with pytest.raises(StaleWrite) as stale:
            store.renew_lease(first.id, version, LATER)
        assert stale.value.field == "version"
    assert store.get_run(first.id) == now_held
    assert store.get_run(first.id).lease_expires_at == LEASE


def test_a_renewal_of_a_run_past_its_lease_states_is_refused(
    store: RunStore, held: Run, add_run: MakeRun
) -> None:
    # GIVEN a queued run and a run the target started (no lease: the target holds it now)
    started = store.transition(held.id, S.CLAIMED, S.STARTING, "submitted", T0)
    fresh = add_run("gpu")
    # WHEN either is renewed at its own version  THEN StaleWrite on the version, nothing changed
    for run in (started, fresh):
        with pytest.raises(StaleWrite) as stale:
            store.renew_lease(run.id, run.version, LATER)
        assert stale.value.field == "version"
        assert store.get_run(run.id) == run
        assert len(store.events(run.id)) == run.version


def test_a_renewal_racing_the_expiry_of_its_lease_never_undoes_the_expiry(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    # GIVEN claimed runs whose heartbeat races the reconciler's expiry of the same lease
    make_queue("gpu")
    runs = [add_run("gpu") for _ in range(4)]
    for _ in runs:
        claimed(store)

    def renew(run_id: str) -> None:
        with contextlib.suppress(StaleWrite):  # it may lose: the design's documented race
            store.renew_lease(run_id, 2, LATER)

    for run in runs:
        at_once(functools.partial(renew, run.id), functools.partial(expired, store, run.id))
        # THEN whichever came first, the expiry stands: back in line, no lease, one event per version
        after = store.get_run(run.id)
        assert (after.state, after.version, after.lease_expires_at) == (S.QUEUED, 3, None)
        assert len(store.events(run.id)) == 3
    assert store.count_queued("gpu") == len(runs)


def test_renewing_an_unknown_run_raises_not_found(store: RunStore) -> None:
    with pytest.raises(NotFound):
        store.renew_lease("nope", 2, LATER)


# -- log tails ------------------------------------------------------------------------
def test_a_log_tail_is_saved_read_back_and_overwritten(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    # GIVEN two runs, nothing shipped yet
    make_queue("gpu")
    run, other = add_run("gpu"), add_run("gpu")
    assert store.log_tail(run.id) is None
    # WHEN a tail is saved  THEN it is read back as saved, for that run only
    first = LogTail(text="epoch 1 loss 0.9\n", end=17)
    store.save_log_tail(run.id, first)
    assert store.log_tail(run.id) == first
    assert store.log_tail(other.id) is None
    # WHEN another is saved  THEN it replaces the first (the caller merged them)
    second = LogTail(text="epoch 2 loss 0.4\n", end=100_034)
    store.save_log_tail(run.id, second)
    assert store.log_tail(run.id) == second
    # AND saving a tail is not a move: no version bump, no event
    assert store.get_run(run.id) == run
    assert len(store.events(run.id)) == 1


def test_a_full_tail_of_wide_characters_round_trips(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    # GIVEN the largest tail a run keeps, of characters up to 4 bytes in UTF-8, hard to compress
    make_queue("gpu")
    run = add_run("gpu")
    alphabet = "abcdefghij é ü 漢 字 \U0001f600 \U0001f680\n\t\\\"'"
    text = "".join(random.Random(7).choices(alphabet, k=LOG_TAIL_CHARS))
    tail = LogTail(text=text, end=10 * LOG_TAIL_CHARS)
    # WHEN it is saved  THEN it comes back character for character
    store.save_log_tail(run.id, tail)
    assert store.log_tail(run.id) == tail


def test_a_log_tail_of_an_unknown_run_raises_not_found(store: RunStore) -> None:
    with pytest.raises(NotFound):
        store.save_log_tail("nope", LogTail(text="x", end=1))
    with pytest.raises(NotFound):
        store.log_tail("nope")


def test_a_log_tail_is_bounded_and_its_end_is_an_offset() -> None:
    # the model at the port's boundary, whatever the store
    assert LogTail(text="", end=0).end == 0
    with pytest.raises(ValidationError, match="text"):
        LogTail(text="x" * (LOG_TAIL_CHARS + 1), end=LOG_TAIL_CHARS + 1)
    with pytest.raises(ValidationError, match="end"):
        LogTail(text="", end=-1)


# -- one event per version ------------------------------------------------------------
def assert_one_event_per_version(store: RunStore, run_id: str, states: list[RunState]) -> None:
    """``states[v - 1]`` is the state the run had at version ``v``: check the run's events
    against it (event ``v - 1`` produced version ``v``, event ``v`` left it)."""
    run, events = store.get_run(run_id), store.events(run_id)
    assert run.version == len(states) == len(events)
    assert [event.to_state for event in events] == states
    assert [event.from_state for event in events] == [None, *states[:-1]]


def test_every_version_of_a_whole_life_has_exactly_one_event(
    store: RunStore, make_queue: MakeQueue, add_run: MakeRun
) -> None:
    # GIVEN a run enqueued on a limited queue
    make_queue("gpu", max_jobs=1)
    run = add_run("gpu")
    states = [S.QUEUED]
    assert_one_event_per_version(store, run.id, states)
    # WHEN it lives: claimed, requeued, claimed again, started, running, finished, with a
    # heartbeat and a shipped log along the way
    steps: list[Callable[[Run], Run]] = [
        lambda r: claimed(store),
        lambda r: expired(store, r.id),
        lambda r: claimed(store),
        lambda r: store.transition(r.id, S.CLAIMED, S.STARTING, "submitted", T0, expected_version=r.version),
        lambda r: store.transition(r.id, S.STARTING, S.RUNNING, "up", T0, expected_version=r.version),
        lambda r: store.transition(
            r.id, S.RUNNING, S.FINISHED, "exit 0", T0, RunUpdate(exit_code=0), expected_version=r.version
        ),
    ]
    current = run
    for step in steps:
        if current.state in (S.CLAIMED, S.BUILDING):
            current = store.renew_lease(current.id, current.version, LATER)
        if current.state is S.RUNNING:
            store.save_log_tail(current.id, LogTail(text="ok\n", end=3))
        current = step(current)
        states.append(current.state)
        # THEN after every step the run has one event per version, each the move that made it
        assert_one_event_per_version(store, run.id, states)
    assert states == [S.QUEUED, S.CLAIMED, S.QUEUED, S.CLAIMED, S.STARTING, S.RUNNING, S.FINISHED]
    assert store.get_run(run.id).exit_code == 0
    assert store.count_active("gpu") == 0
