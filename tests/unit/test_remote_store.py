"""``RemoteRunStore``: which version each report carries, and the heartbeat's claims, against
a scripted control plane on loopback HTTP."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from launchq.domain.models import Run, RunSpec
from launchq.domain.states import RunState
from launchq.errors import StaleWrite
from launchq.remote.client import AgentClient
from launchq.remote.store import NotForAgents, RemoteRunStore, lease_seconds
from launchq.remote.threads import Heartbeat
from tests.unit.cli_fake_server import FakeApi

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _run(state: RunState, version: int, run_id: str = "r1") -> dict[str, Any]:
    run = Run(
        id=run_id, queue="gpu", entity="local", spec=RunSpec(entry_point=["true"]), state=state,
        version=version, created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    return run.model_dump(mode="json")


def _store(fake: FakeApi, queues: tuple[str, ...] = ("gpu",)) -> RemoteRunStore:
    return RemoteRunStore(AgentClient(fake.url, agent="box", retry_pauses=()), queues)


@pytest.fixture
def dispatchers() -> Iterator[Callable[[RemoteRunStore], None]]:
    """Claim from a thread of its own that lives to the end of the test, as a dispatcher still
    launching its claim would (a thread's next claim ends its last; ids of ended threads recur)."""
    done = threading.Event()
    threads: list[threading.Thread] = []

    def claim(store: RemoteRunStore) -> None:
        claimed = threading.Event()

        def body() -> None:
            store.claim("gpu", NOW, NOW + timedelta(seconds=90))
            claimed.set()
            done.wait(10)

        threads.append(threading.Thread(target=body))
        threads[-1].start()
        assert claimed.wait(10)

    yield claim
    done.set()
    for thread in threads:
        thread.join()


def _sent_versions(fake: FakeApi, route: str) -> list[int]:
    return [call.body["version"] for call in fake.calls("POST", route)]


def test_a_held_claim_keeps_its_own_version_whatever_a_listing_shows(fake: FakeApi) -> None:
    # GIVEN a run this agent claimed at version 2
    store = _store(fake)
    fake.reply("POST", "/agents/claim", 200, {"run": _run(RunState.CLAIMED, 2)})
    store.claim("gpu", NOW, NOW + timedelta(seconds=120))
    # AND a listing that shows it claimed again by another agent (its lease expired meanwhile)
    fake.reply("GET", "/agents/runs", 200, {"runs": [_run(RunState.CLAIMED, 4)]})
    store.list_runs(states=[RunState.CLAIMED])

    # WHEN this agent reports the run submitted
    fake.reply("POST", "/agents/runs/r1/move", 409, {"error": "conflict", "detail": "v", "field": "version"})
    with pytest.raises(StaleWrite):
        store.transition("r1", RunState.CLAIMED, RunState.STARTING, "submitted", NOW)

    # THEN it sent the version of its own claim, so the other agent's run is not moved
    assert _sent_versions(fake, "/agents/runs/r1/move") == [2]


def test_once_submitted_the_latest_version_seen_is_sent(fake: FakeApi) -> None:
    store = _store(fake)
    fake.reply("POST", "/agents/claim", 200, {"run": _run(RunState.CLAIMED, 2)})
    store.claim("gpu", NOW, NOW + timedelta(seconds=120))
    fake.reply("POST", "/agents/runs/r1/move", 200, {"run": _run(RunState.STARTING, 3), "replayed": False})
    store.transition("r1", RunState.CLAIMED, RunState.STARTING, "submitted", NOW)
    assert store.held() == {}
    # a stop requested on the control plane moved it on (version 4); the reconciler lists it
    fake.reply("GET", "/agents/runs", 200, {"runs": [_run(RunState.STOPPING, 4)]})
    store.list_runs(states=[RunState.STOPPING])
    fake.reply("POST", "/agents/runs/r1/move", 200, {"run": _run(RunState.STOPPED, 5), "replayed": False})
    store.transition("r1", RunState.STOPPING, RunState.STOPPED, "stopped", NOW)
    assert _sent_versions(fake, "/agents/runs/r1/move") == [2, 4]


def test_a_run_never_seen_is_read_first_for_its_version(fake: FakeApi) -> None:
    store = _store(fake)
    fake.reply("GET", "/agents/runs/r9", 200, {"run": _run(RunState.RUNNING, 7, "r9"), "events": []})
    fake.reply(
        "POST", "/agents/runs/r9/move", 200, {"run": _run(RunState.FINISHED, 8, "r9"), "replayed": False}
    )
    store.transition("r9", RunState.RUNNING, RunState.FINISHED, "exited with code 0", NOW)
    assert _sent_versions(fake, "/agents/runs/r9/move") == [7]


def test_heartbeat_renews_held_claims_and_stops_at_a_lost_one(
    fake: FakeApi, dispatchers: Callable[[RemoteRunStore], None]
) -> None:
    # GIVEN two runs this agent claimed
    store = _store(fake)
    fake.reply("POST", "/agents/claim", 200, {"run": _run(RunState.CLAIMED, 2, "r1")})
    fake.reply("POST", "/agents/claim", 200, {"run": _run(RunState.CLAIMED, 2, "r2")})
    dispatchers(store)  # two dispatchers' claims (one thread's next claim ends its last)
    dispatchers(store)
    fake.reply("POST", "/agents/runs/r1/lease", 200, {"run": _run(RunState.CLAIMED, 2, "r1")})
    fake.reply(
        "POST", "/agents/runs/r2/lease", 409, {"error": "conflict", "detail": "moved", "field": "version"}
    )
    heartbeat = Heartbeat(store, timedelta(seconds=90))

    # WHEN it beats twice
    heartbeat.beat()
    heartbeat.beat()

    # THEN each beat renews r1 for the whole lease; r2, whose claim moved on, only once
    assert heartbeat.interval == 30
    assert [c.body for c in fake.calls("POST", "/agents/runs/r1/lease")] == [
        {"agent": "box", "version": 2, "lease_seconds": 90}
    ] * 2
    assert len(fake.calls("POST", "/agents/runs/r2/lease")) == 1
    assert store.held() == {"r1": 2}


def test_a_claim_whose_launch_gave_up_is_neither_renewed_nor_counted(fake: FakeApi) -> None:
    # GIVEN the dispatcher thread claimed r1, and its launch raised (the target was unreachable)
    store = _store(fake)
    fake.reply("POST", "/agents/claim", 200, {"run": _run(RunState.CLAIMED, 2, "r1")})
    store.claim("gpu", NOW, NOW + timedelta(seconds=60))
    assert store.held() == {"r1": 2}  # renewed while it is being launched

    # WHEN the same thread counts its runs before its next pass
    active = store.count_active("gpu")

    # THEN r1, still claimed, is left to expire back into line: not counted, not renewed
    assert active == 0
    assert store.held() == {}
    store.renew_held(timedelta(seconds=60), NOW)
    assert fake.calls("POST", "/agents/runs/r1/lease") == []


def test_what_an_agent_never_needs_is_refused_and_schedules_are_none(fake: FakeApi) -> None:
    store = _store(fake)
    run = Run.model_validate(_run(RunState.QUEUED, 1))
    with pytest.raises(NotForAgents, match="enqueued on the control plane"):
        store.add_run(run)
    with pytest.raises(NotForAgents):
        store.positions([run])
    assert store.list_schedules() == []


def test_list_queues_is_the_agents_own_that_exist(fake: FakeApi) -> None:
    queue = {
        "name": "gpu",
        "resource": "local-process",
        "created_at": NOW.isoformat(),
        "active": 1,
        "queued": 3,
    }
    fake.reply("GET", "/queues/gpu", 200, queue)
    store = _store(fake, ("gpu", "gone"))
    assert [q.name for q in store.list_queues()] == ["gpu"]
    assert store.count_queued("gpu") == 3


def test_count_active_counts_this_agents_own_runs_only(
    fake: FakeApi, dispatchers: Callable[[RemoteRunStore], None]
) -> None:
    # GIVEN this agent claimed r1 and r2 (r2 then launched) and a listing shows r3, another's
    store = _store(fake)
    fake.reply("POST", "/agents/claim", 200, {"run": _run(RunState.CLAIMED, 2, "r1")})
    fake.reply("POST", "/agents/claim", 200, {"run": _run(RunState.CLAIMED, 2, "r2")})
    dispatchers(store)
    dispatchers(store)
    for state, version in ((RunState.STARTING, 3), (RunState.FINISHED, 4)):  # answered in turn
        fake.reply(
            "POST", "/agents/runs/r2/move", 200, {"run": _run(state, version, "r2"), "replayed": False}
        )
    for state, version, run_id in ((RunState.RUNNING, 5, "r3"), (RunState.STARTING, 6, "r1")):
        fake.reply("GET", "/agents/runs", 200, {"runs": [_run(state, version, run_id)]})
    store.transition("r2", RunState.CLAIMED, RunState.STARTING, "submitted", NOW)
    store.list_runs(states=[RunState.RUNNING])
    assert store.count_active("gpu") == 2
    assert store.count_active("cpu") == 0

    # WHEN r1's claim is lost (its renewal refused) and r2's job ends
    fake.reply(
        "POST", "/agents/runs/r1/lease", 409, {"error": "conflict", "detail": "moved", "field": "version"}
    )
    store.renew_held(timedelta(seconds=60), NOW)
    store.transition("r2", RunState.STARTING, RunState.FINISHED, "exited with code 0", NOW)

    # THEN neither counts any more, not even when another agent launches r1 later
    assert store.count_active("gpu") == 0
    store.list_runs(states=[RunState.STARTING])
    assert store.count_active("gpu") == 0


def test_lease_seconds_are_whole_and_within_the_routes_bounds() -> None:
    assert lease_seconds(NOW + timedelta(seconds=120.4), NOW) == 120
    assert lease_seconds(NOW + timedelta(seconds=2), NOW) == 10
    assert lease_seconds(NOW + timedelta(hours=5), NOW) == 3600
