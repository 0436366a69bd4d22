"""The agent's threads, one pass at a time, against a scripted control plane on loopback HTTP:
the waiter's long poll and back-off, the log shipper's chunks and last ship."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.adapters.targets.fake import FakeTarget
from launchq.domain.models import Run, RunSpec
from launchq.domain.states import RunState
from launchq.remote.client import AgentClient
from launchq.remote.store import RemoteRunStore
from launchq.remote.threads import MAX_CHUNK_CHARS, Backoff, LogShipper, Waiter
from launchq.service.targets import TargetCatalog
from tests.unit.cli_fake_server import FakeApi, Recorded

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _client(fake: FakeApi) -> AgentClient:
    return AgentClient(fake.url, agent="box", retry_pauses=())


# -- back-off and the waiter ------------------------------------------------------------------
def test_backoff_doubles_to_fifteen_seconds_and_resets() -> None:
    backoff = Backoff()
    assert [backoff.next() for _ in range(7)] == [1, 2, 4, 8, 15, 15, 15]
    backoff.reset()
    assert backoff.next() == 1


def test_waiter_backs_off_while_a_short_polling_server_has_nothing(fake: FakeApi) -> None:
    # GIVEN a server that cannot long-poll (Lambda): nothing, nothing, nothing, work, nothing
    for answer in ([], [], [], ["gpu"], []):
        fake.reply("POST", "/agents/wait", 200, {"queues": answer, "long_poll": False})
    doorbell = InProcessDoorbell()
    waiter = Waiter(_client(fake), ["gpu", "cpu"], doorbell, busy_pause=0.5)

    # WHEN the waiter asks five times
    pauses = [waiter.step() for _ in range(5)]

    # THEN it waits 1, 2, 4 s while idle, rings the queue with work, and starts again at 1 s
    assert pauses == [1, 2, 4, 0.5, 1]
    assert doorbell.wait(0) == {"gpu"}
    assert fake.calls("POST", "/agents/wait")[0].body == {
        "agent": "box",
        "queues": ["gpu", "cpu"],
        "wait_seconds": 20,
    }


def test_waiter_asks_again_at_once_after_an_empty_long_poll(fake: FakeApi) -> None:
    fake.reply("POST", "/agents/wait", 200, {"queues": [], "long_poll": True})
    doorbell = InProcessDoorbell()
    waiter = Waiter(_client(fake), ["gpu"], doorbell)
    assert [waiter.step(), waiter.step()] == [0, 0]
    assert doorbell.wait(0) == set()


def test_waiter_backs_off_when_the_server_fails(fake: FakeApi) -> None:
    fake.reply("POST", "/agents/wait", 503, {"error": "unavailable", "detail": "down"})
    waiter = Waiter(_client(fake), ["gpu"], InProcessDoorbell())
    assert [waiter.step(), waiter.step(), waiter.step()] == [1, 2, 4]


# -- the log shipper --------------------------------------------------------------------------
class _Blind(FakeTarget):
    """A target that does not see the jobs of runs whose id starts with ``other``."""

    def sees(self, run: Run) -> bool:
        return not run.id.startswith("other")


def _run(run_id: str, state: RunState) -> Run:
    return Run(
        id=run_id, queue="gpu", entity="local", spec=RunSpec(entry_point=["true"]), state=state,
        handle={"job": run_id}, created_at=NOW, updated_at=NOW,
    )  # fmt: skip


def _logs_end(request: Recorded) -> tuple[int, Any]:
    return 200, {"end": request.body["offset"] + len(request.body["text"])}


def _shipper(
    fake: FakeApi, target: FakeTarget, *, answer_logs: bool = True
) -> tuple[LogShipper, RemoteRunStore]:
    queue = {
        "name": "gpu",
        "resource": "local-process",
        "created_at": NOW.isoformat(),
        "active": 0,
        "queued": 0,
    }
    fake.reply("GET", "/queues/gpu", 200, queue)
    for run_id in ("r1", "other-1") if answer_logs else ():
        fake.reply_with("POST", f"/agents/runs/{run_id}/logs", _logs_end)
    client = _client(fake)
    store = RemoteRunStore(client, ["gpu"])
    return LogShipper(client, store, TargetCatalog({"local-process": target})), store


def _shipped(fake: FakeApi, run_id: str) -> list[tuple[int, int]]:
    return [
        (c.body["offset"], len(c.body["text"])) for c in fake.calls("POST", f"/agents/runs/{run_id}/logs")
    ]


def test_shipper_ships_new_output_in_bounded_chunks_then_once_more_at_the_end(fake: FakeApi) -> None:
    # GIVEN a running job that wrote more than two chunks' worth, seen by the agent's store
    target = _Blind()
    shipper, _ = _shipper(fake, target)
    target.output["r1"] = "x" * (2 * MAX_CHUNK_CHARS + 10)
    shipper.observed(_run("r1", RunState.RUNNING))

    # WHEN the shipper passes, the job writes its last line and ends, and it passes twice more
    shipper.ship_all()
    target.output["r1"] += "done\n"
    shipper.observed(_run("r1", RunState.FINISHED))
    shipper.ship_all()
    shipper.ship_all()

    # THEN the log went in chunks of at most 256 KiB at running offsets, the end once, then nothing
    chunk = MAX_CHUNK_CHARS
    assert _shipped(fake, "r1") == [(0, chunk), (chunk, chunk), (2 * chunk, 10), (2 * chunk + 10, 5)]
    assert fake.calls("POST", "/agents/runs/r1/logs")[-1].body["text"] == "done\n"


def test_shipper_leaves_the_jobs_its_target_does_not_see(fake: FakeApi) -> None:
    target = _Blind()
    shipper, _ = _shipper(fake, target)
    target.output["other-1"] = "not ours\n"
    shipper.observed(_run("other-1", RunState.RUNNING))
    shipper.ship_all()
    shipper.observed(_run("other-1", RunState.RUNNING))  # listed again by the reconciler
    shipper.ship_all()
    assert _shipped(fake, "other-1") == []


def test_shipper_ships_again_from_the_same_offset_after_a_failure(fake: FakeApi) -> None:
    target = _Blind()
    shipper, _ = _shipper(fake, target, answer_logs=False)
    fake.reply("POST", "/agents/runs/r1/logs", 503, {"error": "unavailable", "detail": "down"})
    fake.reply_with("POST", "/agents/runs/r1/logs", _logs_end)
    target.output["r1"] = "line 1\n"
    shipper.observed(_run("r1", RunState.RUNNING))
    shipper.ship_all()  # fails: the 503
    shipper.ship_all()
    assert _shipped(fake, "r1") == [(0, 7), (0, 7)]


def test_the_store_tells_the_shipper_of_the_runs_it_hands_out(fake: FakeApi) -> None:
    target = _Blind()
    shipper, store = _shipper(fake, target)
    target.output["r1"] = "hello\n"
    fake.reply("GET", "/agents/runs", 200, {"runs": [_run("r1", RunState.RUNNING).model_dump(mode="json")]})
    store.list_runs(states=[RunState.RUNNING])
    shipper.ship_all()
    assert _shipped(fake, "r1") == [(0, 6)]
