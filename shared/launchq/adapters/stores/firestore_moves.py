"""The Firestore store's moves: the claim, transitions and lease renewals.

Every move is a Firestore transaction whose first write is a guard ``create``: the event
document of the version the move produces (``<run id>-<version>``), and for a claim on a
limited queue the slot document before it. ``create`` fails when the document exists, so
two moves of one run from one version can never both commit. On Firestore the transaction
already serialises them; the guard keeps that true where transactions do not isolate, as
on the emulator the tests use (``tests/firestore_server.py``), and there a commit that
loses after its slot was written gives the slot back (``_release_if_mine``).

The claim is a transaction over the ordered query ``queue == q, state == queued, order by
priority, seq limit 1`` (issue 13). The running count is never a counter document: it is
derived (a count aggregation over the queue's active runs), and a limited queue's
``max_jobs`` is enforced by slot documents, one created per claim and deleted when the run
stops holding a slot. Throughput under Firestore's published limits:

- a slot document takes two writes per run (claim, release); at the documented soft limit
  of one sustained write a second per document, a queue of ``max_jobs`` k sustains k/2
  claims a second, far above what k slots can use unless runs last under two seconds;
- an unlimited queue writes no shared document at all: a claim writes its run and one new
  event document. Its bound is the collection's: new collections ramp from 500 writes/s,
  +50% every 5 minutes (the 500/50/5 rule), and an index over a monotonically increasing
  field (``seq``, in the line's index) holds about 500 writes/s, so about 250 claims a
  second per queue (two writes each) once ramped.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from launchq.adapters.stores import common
from launchq.adapters.stores.firestore_docs import (
    FirestoreDocs,
    event_doc,
    event_id,
    run_doc,
    run_from,
    slot_id,
)
from launchq.domain.models import Queue, Run, RunUpdate
from launchq.domain.states import ACTIVE, RunState
from launchq.errors import AlreadyExists, BackendUnavailable, NotFound

if TYPE_CHECKING:
    from google.cloud.firestore import Transaction

#: How often a claim or a move starts again after losing its guard to another writer.
ATTEMPTS = 25

_NO_SLOT = -1


def missing_run(run_id: str) -> NotFound:
    return NotFound(f"run {run_id!r} does not exist", field="run")


class FirestoreMoves:
    """The conditional writes of runs: claim, transition, renew (see the module doc)."""

    def __init__(self, docs: FirestoreDocs) -> None:
        self._docs = docs

    def claim(self, queue: Queue, now: datetime, lease_until: datetime, claimer: str) -> Run | None:
        """``RunStore.claim`` on a queue already read; retries a lost guard, then BackendUnavailable."""
        for _ in range(ATTEMPTS):
            slot = self._free_slot(queue)
            if slot is None:
                return None
            token = uuid4().hex
            try:
                return self._claim_once(queue.name, slot, token, (now, lease_until, claimer))
            except AlreadyExists:
                self._release_if_mine(queue.name, slot, token)
        raise BackendUnavailable(f"claims on queue {queue.name!r} kept losing to other claimers; retry")

    def _free_slot(self, queue: Queue) -> int | None:
        """A slot to take (``_NO_SLOT`` on an unlimited queue); None when the queue is full."""
        if queue.max_jobs == -1:
            return _NO_SLOT
        docs = self._docs
        held = {
            doc["slot"]
            for doc in docs.stream(
                docs.where(docs.collection("slots"), "queue", "==", queue.name), "reading slots"
            )
        }
        active = docs.count(docs.runs_of(queue.name, *ACTIVE), "counting active runs")
        if not queue.has_free_slot(max(active, len(held))):
            return None
        free = [slot for slot in range(queue.max_jobs) if slot not in held]
        return random.choice(free) if free else None  # noqa: S311 - spreads racing claimers

    def _claim_once(
        self, queue: str, slot: int, token: str, claim: tuple[datetime, datetime, str]
    ) -> Run | None:
        docs = self._docs
        now, lease_until, claimer = claim

        def attempt(tx: Transaction) -> Run | None:
            found = list(tx.get(docs.line(queue).limit(1)))
            if not found:
                return None
            run, event = common.claimed(run_from(found[0].to_dict() or {}), now, lease_until, claimer)
            if slot != _NO_SLOT:
                held = {"queue": queue, "slot": slot, "run_id": run.id, "token": token}
                tx.create(docs.collection("slots").document(slot_id(queue, slot)), held)
            self._write_move(
                tx, run, event_doc(event, run.version, token), None if slot == _NO_SLOT else slot
            )
            return run

        return self._transact(attempt, f"claiming from queue {queue!r}")

    def _release_if_mine(self, queue: str, slot: int, token: str) -> None:
        """Undo a slot a lost claim may have left: only the emulator applies part of a commit,
        and the token keeps this from freeing a slot another claim took meanwhile."""
        if slot == _NO_SLOT:
            return
        ref = self._docs.collection("slots").document(slot_id(queue, slot))
        held = self._docs.get("slots", slot_id(queue, slot), "reading a slot")
        if held is not None and held.get("token") == token:
            with self._docs.call("releasing a slot"):
                ref.delete()

    def transition(
        self,
        run_id: str,
        expected: RunState,
        to: RunState,
        reason: str,
        now: datetime,
        update: RunUpdate | None,
        expected_version: int | None,
    ) -> Run:
        """``RunStore.transition``; a lost guard is tried again on a fresh read (which then
        raises StaleWrite when the run moved away from ``expected``)."""
        common.ensure_allowed(expected, to)
        docs = self._docs
        ref = docs.collection("runs").document(run_id)

        def attempt(tx: Transaction) -> Run:
            current = self._read(tx, ref, run_id)
            run, event = common.transitioned(
                run_from(current),
                expected,
                to,
                reason=reason,
                now=now,
                update=update,
                deep=False,
                expected_version=expected_version,
            )
            slot = current.get("slot")
            if slot is not None and not run.state.active:
                tx.delete(docs.collection("slots").document(slot_id(run.queue, slot)))
                slot = None
            self._write_move(tx, run, event_doc(event, run.version, uuid4().hex), slot)
            return run

        for _ in range(ATTEMPTS):
            try:
                return self._transact(attempt, f"moving run {run_id}")
            except AlreadyExists:
                continue
        raise BackendUnavailable(f"moves of run {run_id} kept losing to other writers; retry")

    def renew_lease(self, run_id: str, version: int, lease_until: datetime) -> Run:
        """``RunStore.renew_lease``: writes the lease fields only (no version bump, no event)."""
        ref = self._docs.collection("runs").document(run_id)

        def attempt(tx: Transaction) -> Run:
            run = common.renewed(run_from(self._read(tx, ref, run_id)), version, lease_until)
            tx.update(ref, {"lease": lease_until.isoformat(), "lease_version": version})
            return run

        return self._transact(attempt, f"renewing the lease of run {run_id}")

    def _write_move(self, tx: Transaction, run: Run, event: dict[str, Any], slot: int | None) -> None:
        """The guard (the event of the new version), then the run itself."""
        docs = self._docs
        tx.create(docs.collection("events").document(event_id(run.id, run.version)), event)
        tx.set(docs.collection("runs").document(run.id), run_doc(run, slot))

    @staticmethod
    def _read(tx: Transaction, ref: Any, run_id: str) -> dict[str, Any]:
        snapshot = ref.get(transaction=tx)
        if not snapshot.exists:
            raise missing_run(run_id)
        fields: dict[str, Any] = snapshot.to_dict() or {}
        return fields

    def _transact(self, attempt: Any, action: str) -> Any:
        """Run ``attempt(transaction)`` as a Firestore transaction (retried by the SDK on
        contention); a guard lost raises AlreadyExists, the SDK's errors leave translated."""
        docs = self._docs
        with docs.call(action):
            return docs.sdk.transactional(attempt)(docs.client.transaction())
