"""Retries with back-off (``launchq.service.retries``): a launch that failed for a passing
reason waits, holding its claim, and is tried again at its place in line; one that keeps
failing is dead-lettered with every attempt's reason; a permanent refusal dead-letters at once.
On the in-memory and the SQLite stores, with a settable clock (the reconciler's lease expiry
ends each back-off)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.bootstrap import Services
from launchq.domain.models import Run, RunEvent, RunSpec
from launchq.domain.retry_policy import RetryPolicy
from launchq.domain.states import RunState as S
from launchq.errors import BackendUnavailable, LaunchFailed
from launchq.ports import TargetStatus
from launchq.service.queues import QueueCreate, QueuePatch
from launchq.service.retries import failed_attempts
from tests.unit.build_world import World
from tests.unit.fakes import Clock, FakeTarget, services

SPEC = RunSpec(entry_point=["train"])
POLICY = RetryPolicy(max_attempts=3, backoff_seconds=10, max_backoff_seconds=15)


class FlakyTarget(FakeTarget):
    """The fake target, whose next submits raise the errors queued in ``failures`` (one each)."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: list[Exception] = []
        self.submits = 0

    def submit(self, run: Run) -> dict[str, str]:
        self.submits += 1
        if self.failures:
            raise self.failures.pop(0)
        return super().submit(run)


@pytest.fixture(params=["memory", "sqlite"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Services, FlakyTarget, Clock]:
    target, clock = FlakyTarget(), Clock()
    svc = services(target, clock)
    if request.param == "sqlite":
        svc.ctx.store = SqliteRunStore(tmp_path / "launchq.db")
    svc.queues.create(QueueCreate(name="q", resource="local-process", max_jobs=1, retry=POLICY))
    return svc, target, clock


def throttled(n: int) -> list[Exception]:
    return [BackendUnavailable(f"ThrottlingException: rate exceeded ({i})") for i in range(1, n + 1)]


def wait_out(svc: Services, clock: Clock, seconds: float) -> None:
    """Let ``seconds`` pass and the reconciler tick (it ends back-offs whose lease ran out)."""
    clock.advance(seconds)
    svc.reconciler.tick()


def test_a_transient_failure_waits_holding_its_claim_then_runs_at_its_place_in_line(
    world: tuple[Services, FlakyTarget, Clock],
) -> None:
    # GIVEN a queue of one slot, a target throttling the next two submits, two runs in line
    svc, target, clock = world
    target.failures = throttled(2)
    first, _ = svc.runs.enqueue("q", SPEC)
    second, _ = svc.runs.enqueue("q", SPEC)
    # WHEN the first is dispatched
    (handled,) = svc.dispatcher.dispatch("q")
    # THEN it waits out a back-off of 10 s, still claimed (its slot held: the second waits)
    assert handled.state is S.CLAIMED
    assert handled.lease_expires_at == clock.now + timedelta(seconds=10)
    assert handled.reason == (
        "launch attempt 1 of 3 failed; next try in 10s at 2026-01-01T12:00:10Z: "
        "ThrottlingException: rate exceeded (1)"
    )
    assert svc.dispatcher.dispatch("q") == []
    # AND before the back-off has passed nothing is tried again
    wait_out(svc, clock, 9)
    assert (svc.runs.get(first.id).state, target.submits) == (S.CLAIMED, 1)
    # WHEN it has passed: back in line first (ahead of the later run), tried again, waits 15 s (capped)
    wait_out(svc, clock, 1.5)
    assert svc.runs.position(svc.runs.get(first.id)) == 1
    (again,) = svc.dispatcher.dispatch("q")
    assert (again.id, again.state, target.submits) == (first.id, S.CLAIMED, 2)
    assert again.reason.startswith("launch attempt 2 of 3 failed; next try in 15s at 2026-01-01T12:00:25Z: ")
    # AND the third attempt succeeds
    wait_out(svc, clock, 15.5)
    (launched,) = svc.dispatcher.dispatch("q")
    assert (launched.id, launched.state) == (first.id, S.STARTING)
    assert svc.runs.get(second.id).state is S.QUEUED
    # AND its history has both failed attempts, each with its reason
    reasons = [e.reason for e in svc.runs.events(first.id)]
    assert sum(r.startswith("launch attempt ") for r in reasons) == 2
    assert any(r.endswith("rate exceeded (2)") for r in reasons)


def test_a_run_that_exhausts_its_attempts_is_dead_lettered_with_every_reason_and_replay_starts_afresh(
    world: tuple[Services, FlakyTarget, Clock],
) -> None:
    svc, target, clock = world
    target.failures = throttled(4)
    run, _ = svc.runs.enqueue("q", SPEC)
    svc.dispatcher.dispatch("q")
    wait_out(svc, clock, 10.5)
    svc.dispatcher.dispatch("q")
    wait_out(svc, clock, 15.5)
    (last,) = svc.dispatcher.dispatch("q")
    # THEN the third failure (max_attempts 3) dead-letters it, naming each attempt's reason
    assert last.state is S.DEAD_LETTER
    assert last.reason == (
        "launch failed 3 times for transient reasons (retry.max_attempts): "
        "attempt 1: ThrottlingException: rate exceeded (1); "
        "attempt 2: ThrottlingException: rate exceeded (2); "
        "attempt 3: ThrottlingException: rate exceeded (3)"
    )
    assert (last.lease_expires_at, target.submits) == (None, 3)
    assert last.finished_at is not None
    # AND its slot is free again: the dead letter stays put however long one waits
    wait_out(svc, clock, 3600)
    assert svc.runs.get(run.id).state is S.DEAD_LETTER
    # WHEN it is replayed and fails once more: attempt 1 again, not 4
    svc.runs.replay(run.id)
    (replayed,) = svc.dispatcher.dispatch("q")
    assert replayed.reason.startswith("launch attempt 1 of 3 failed; next try in 10s")


def test_a_permanent_refusal_dead_letters_at_once_without_a_retry(
    world: tuple[Services, FlakyTarget, Clock],
) -> None:
    svc, target, _ = world
    target.failures = [LaunchFailed("image not found: team/train:nope")]
    run, _ = svc.runs.enqueue("q", SPEC)
    (handled,) = svc.dispatcher.dispatch("q")
    assert (handled.state, handled.reason) == (S.DEAD_LETTER, "image not found: team/train:nope")
    assert not any(e.reason.startswith("launch attempt") for e in svc.runs.events(run.id))


def test_one_attempt_means_no_retry(world: tuple[Services, FlakyTarget, Clock]) -> None:
    svc, target, _ = world
    svc.queues.patch("q", QueuePatch(retry=RetryPolicy(max_attempts=1)))
    target.failures = throttled(1)
    run, _ = svc.runs.enqueue("q", SPEC)
    (handled,) = svc.dispatcher.dispatch("q")
    assert handled.state is S.DEAD_LETTER
    assert handled.reason.endswith("attempt 1: ThrottlingException: rate exceeded (1)")
    assert svc.runs.get(run.id).version == 3  # enqueue, claim, dead letter: no retry event


def test_a_run_stopped_during_its_back_off_is_not_tried_again(
    world: tuple[Services, FlakyTarget, Clock],
) -> None:
    svc, target, clock = world
    target.failures = throttled(1)
    run, _ = svc.runs.enqueue("q", SPEC)
    svc.dispatcher.dispatch("q")
    svc.runs.stop(run.id)
    wait_out(svc, clock, 60)
    svc.dispatcher.dispatch("q")
    assert svc.runs.get(run.id).state is S.STOPPED
    assert target.submits == 1


def test_the_default_policy_and_its_bounds() -> None:
    # GIVEN no retry key: 3 attempts, 10 s, doubling, at most 300 s
    policy = QueueCreate(name="q", resource="local-process").retry
    assert (policy.max_attempts, policy.backoff_seconds, policy.max_backoff_seconds) == (3, 10, 300)
    assert [policy.delay(n) for n in (1, 2, 3, 6, 7, 60)] == [10, 20, 40, 300, 300, 300]
    # AND W&B-style numeric strings are read as numbers
    assert RetryPolicy.model_validate({"max_attempts": "5"}).max_attempts == 5


@pytest.mark.parametrize(
    ("retry", "field", "words"),
    [
        ({"max_attempts": 0}, "max_attempts", "greater than or equal to 1"),
        ({"max_attempts": 21}, "max_attempts", "less than or equal to 20"),
        ({"backoff_seconds": 0}, "backoff_seconds", "greater than 0"),
        ({"backoff_seconds": 60, "max_backoff_seconds": 30}, "", "max_backoff_seconds must be at least"),
        ({"tries": 3}, "tries", "Extra inputs are not permitted"),
    ],
)
def test_a_bad_retry_key_is_refused_naming_the_field(
    retry: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        QueueCreate.model_validate({"name": "q", "resource": "local-process", "retry": retry})
    (error,) = caught.value.errors()
    assert error["loc"] == ("retry", field) if field else ("retry",)
    assert words in error["msg"]


def test_a_registry_unreachable_before_the_build_is_retried_and_the_build_then_runs(tmp_path: Path) -> None:
    # GIVEN a run from code on a target that runs images, and a registry that does not answer
    world = World(tmp_path, asynchronous=False)
    clock = world.svc.ctx.clock
    assert isinstance(clock, Clock)
    world.registry.unavailable = "connection refused"
    run = world.enqueue()
    # WHEN it is dispatched: the failure is transient, the run keeps its claim for 10 s
    world.svc.dispatcher.dispatch("q")
    waiting = world.svc.runs.get(run.id)
    assert waiting.state is S.CLAIMED
    assert waiting.reason.endswith("registry registry.test/team/train unreachable: connection refused")
    # WHEN the registry answers again and the back-off has passed
    world.registry.unavailable = None
    clock.advance(11)
    world.svc.reconciler.tick()
    world.svc.dispatcher.dispatch("q")
    # THEN the image is built and the run submitted with it
    assert world.svc.runs.get(run.id).state is S.STARTING
    assert len(world.builder.plans) == 1


def test_an_asynchronous_build_waits_out_the_back_off_of_its_submit_then_is_submitted(tmp_path: Path) -> None:
    # GIVEN an asynchronous build that ended, and a target refusing the next submit for a moment
    world = World(tmp_path, asynchronous=True)
    clock = world.svc.ctx.clock
    assert isinstance(clock, Clock)
    run, build_id, _ = world.dispatch_first()
    flaky: list[Exception] = [BackendUnavailable("API server did not answer (ReadTimeout)")]
    real_submit = world.target.submit

    def submit(to_run: Run) -> dict[str, str]:
        if flaky:
            raise flaky.pop()
        return real_submit(to_run)

    world.target.submit = submit  # type: ignore[method-assign]
    world.builder.finish(build_id)
    # WHEN the reconciler follows the build: the submit fails, the run stays building for 10 s
    world.svc.reconciler.tick()
    waiting = world.svc.runs.get(run.id)
    assert (waiting.state, waiting.build_id) == (S.BUILDING, build_id)
    assert waiting.reason.startswith("launch attempt 1 of 3 failed; next try in 10s")
    # AND ticks during the back-off do not submit
    clock.advance(5)
    world.svc.reconciler.tick()
    assert world.svc.runs.get(run.id).version == waiting.version
    # THEN once it has passed, the build is looked at again and the run submitted
    clock.advance(6)
    world.svc.reconciler.tick()
    assert world.svc.runs.get(run.id).state is S.STARTING
    assert list(world.target.submitted) == [run.id]


def event(src: S | None, to: S, reason: str) -> RunEvent:
    return RunEvent(run_id="r", at=Clock().now, from_state=src, to_state=to, reason=reason)


def test_attempts_count_since_the_run_entered_its_line_or_last_started() -> None:
    failed = "launch attempt 1 of 3 failed; next try in 10s at 2026-01-01T12:00:10Z: {}"
    events = [
        event(None, S.QUEUED, "enqueued"),
        event(S.QUEUED, S.CLAIMED, "claimed by d"),
        event(S.CLAIMED, S.CLAIMED, failed.format("a")),
        event(S.CLAIMED, S.QUEUED, "claim expired; back in line"),
        event(S.QUEUED, S.CLAIMED, "claimed by d"),
        event(S.CLAIMED, S.CLAIMED, failed.format("b; with: colons")),
    ]
    assert failed_attempts(events) == ["a", "b; with: colons"]
    # a launch that took hold (later preempted and requeued) starts a new count
    started = [event(S.CLAIMED, S.STARTING, "submitted"), event(S.STARTING, S.PREEMPTED, "preempted")]
    assert failed_attempts([*events, *started, event(S.CLAIMED, S.CLAIMED, failed.format("c"))]) == ["c"]
    # a same-state move that is not a failed attempt (a build's progress) is not counted
    assert failed_attempts([event(S.BUILDING, S.BUILDING, "build b-1 started")]) == []


def test_a_run_started_after_a_retry_finishes_normally(world: tuple[Services, FlakyTarget, Clock]) -> None:
    # the retry's back-off does not linger in the lease of a run that started
    svc, target, clock = world
    target.failures = throttled(1)
    run, _ = svc.runs.enqueue("q", SPEC)
    svc.dispatcher.dispatch("q")
    wait_out(svc, clock, 10.5)
    (launched,) = svc.dispatcher.dispatch("q")
    assert launched.lease_expires_at is None
    target.jobs[run.id] = TargetStatus(state="finished", exit_code=0)
    wait_out(svc, clock, 1)
    assert svc.runs.get(run.id).state is S.FINISHED
