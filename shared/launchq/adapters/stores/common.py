"""Store-independent rules shared by every ``RunStore`` adapter.

Each adapter keeps its own records and locking; what a transition *does* to a run (the
allowed-transition check, the expected-state check, applying a ``RunUpdate``, bumping the
version and producing the ``RunEvent``) lives here so all stores behave the same.
"""

from __future__ import annotations

from datetime import datetime

from launchq.domain.models import Run, RunEvent, RunUpdate, Schedule
from launchq.domain.states import ACTIVE, RunState, can_transition
from launchq.errors import Conflict, StaleWrite

ENQUEUED_REASON = "enqueued"

#: States that block deleting a queue: waiting runs and runs holding a slot.
LIVE_OR_WAITING = frozenset(ACTIVE | {RunState.QUEUED})

#: States whose run holds a claim's lease (``RunStore.renew_lease``); later ones are the target's.
LEASE_STATES = frozenset({RunState.CLAIMED, RunState.BUILDING})


def ensure_allowed(expected: RunState, to: RunState) -> None:
    """Raise Conflict when the state machine does not allow ``expected -> to``."""
    if not can_transition(expected, to):
        raise Conflict(f"a run cannot go from {expected.value} to {to.value}", field="state")


#: The fields of ``RunUpdate`` that are values to set (the two flags say what to clear).
_UPDATE_FLAGS = {"clear_lease", "new_attempt"}
_UPDATE_VALUES = tuple(name for name in RunUpdate.model_fields if name not in _UPDATE_FLAGS)


def update_changes(update: RunUpdate | None, *, shared: bool = False) -> dict[str, object]:
    """The fields ``update`` sets on a run (None leaves a field as is; ``clear_lease`` empties
    the lease; ``new_attempt`` also empties the last attempt's times, exit code and handle).

    The values are copies (``model_dump``), so a run that keeps them shares nothing with the
    caller's update; ``shared=True`` gives the update's own values instead, for a store that
    serialises them at once (a third of a SQLite move's Python time was this dump)."""
    if update is None:
        return {}
    if shared:
        changes = {name: value for name in _UPDATE_VALUES if (value := getattr(update, name)) is not None}
    else:
        changes = update.model_dump(exclude_none=True, exclude=_UPDATE_FLAGS)
    if update.new_attempt:
        cleared: dict[str, object] = {
            "started_at": None,
            "finished_at": None,
            "exit_code": None,
            "handle": {},
        }
        changes = {**cleared, **changes}
    if update.clear_lease or update.new_attempt:
        changes["claimed_at"] = None
        changes["lease_expires_at"] = None
    return changes


def transitioned(
    run: Run,
    expected: RunState,
    to: RunState,
    *,
    reason: str,
    now: datetime,
    update: RunUpdate | None = None,
    deep: bool = True,
    expected_version: int | None = None,
) -> tuple[Run, RunEvent]:
    """The run after moving ``expected -> to``, and the event recording it.

    Raises Conflict if the transition is not allowed; StaleWrite if ``run`` is not in
    ``expected`` or (when given) not at ``expected_version``. ``run`` itself is not
    modified. ``deep=False`` shares the nested values (spec, build, ...) with ``run``: for
    a store that serialises the result rather than keeping it (a deep copy is most of a
    move's cost there).
    """
    ensure_allowed(expected, to)
    if run.state != expected:
        raise StaleWrite(f"run {run.id} is {run.state.value}, not {expected.value}", field="state")
    ensure_version(run, expected_version)
    changes = update_changes(update)
    changes.update(state=to, reason=reason, updated_at=now, version=run.version + 1)
    moved = run.model_copy(update=changes, deep=deep)
    event = RunEvent(run_id=run.id, at=now, from_state=expected, to_state=to, reason=reason)
    return moved, event


def ensure_version(run: Run, expected_version: int | None) -> None:
    """Raise StaleWrite (field ``version``) when ``run`` is not at ``expected_version`` (None: any)."""
    if expected_version is not None and run.version != expected_version:
        raise StaleWrite(f"run {run.id} is at version {run.version}, not {expected_version}", field="version")


def renewed(run: Run, version: int, lease_until: datetime) -> Run:
    """``run`` with its lease extended to ``lease_until`` (``RunStore.renew_lease``).

    Raises StaleWrite (field ``version``) unless the run still holds a lease (claimed or
    building) at exactly ``version``. No version bump: a heartbeat is not a move.
    """
    ensure_version(run, version)
    if run.state not in LEASE_STATES:
        held = f"run {run.id} is {run.state.value}: only a claimed or building run holds a lease"
        raise StaleWrite(held, field="version")
    return run.model_copy(update={"lease_expires_at": lease_until})


def claimed_reason(claimer: str) -> str:
    """The claim event's reason: who took the run."""
    return f"claimed by {claimer}"


def claimed(run: Run, now: datetime, lease_until: datetime, claimer: str) -> tuple[Run, RunEvent]:
    """The queued ``run`` moved to ``claimed`` by ``claimer`` with a lease until ``lease_until``."""
    update = RunUpdate(claimed_at=now, lease_expires_at=lease_until)
    reason = claimed_reason(claimer)
    return transitioned(run, RunState.QUEUED, RunState.CLAIMED, reason=reason, now=now, update=update)


def enqueued(run: Run, seq: int, *, deep: bool = True) -> tuple[Run, RunEvent]:
    """The new run as stored (``queued``, with ``seq``) and its creation event (``deep``: as above)."""
    stored = run.model_copy(update={"seq": seq, "state": RunState.QUEUED}, deep=deep)
    event = RunEvent(
        run_id=run.id, at=run.created_at, from_state=None, to_state=RunState.QUEUED, reason=ENQUEUED_REASON
    )
    return stored, event


def line_key(run: Run) -> tuple[int, int]:
    """A queued run's place in line: priority first (0 runs first), then seq (FIFO)."""
    return int(run.priority), run.seq


def not_due(name: str, current: datetime, expected: datetime) -> StaleWrite:
    """Why a schedule is not advanced: it fires at ``current`` now, not ``expected``."""
    return StaleWrite(
        f"schedule {name!r} next fires at {current.isoformat()}, not {expected.isoformat()}",
        field="next_fire_at",
    )


def advanced_schedule(
    schedule: Schedule, expected_next: datetime, next_fire_at: datetime, last_run_id: str
) -> Schedule:
    """``schedule`` after it fired (``RunStore.advance_schedule``): its next fire time and last
    run set, if it was still due at ``expected_next`` (else the ``StaleWrite`` that says when)."""
    if schedule.next_fire_at != expected_next:
        raise not_due(schedule.name, schedule.next_fire_at, expected_next)
    return schedule.model_copy(update={"next_fire_at": next_fire_at, "last_run_id": last_run_id})
