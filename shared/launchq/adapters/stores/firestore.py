"""``FirestoreRunStore``: the ``RunStore`` port on Google Cloud Firestore (native mode).

Where each record lives is in ``firestore_docs``; the claim, transitions and renewals (the
conditional writes, and how many claims a second a queue sustains under Firestore's
per-document write limits) are in ``firestore_moves``; jobs and schedules in
``firestore_catalog``. This module holds queues, adding and reading runs, and log tails.

Order in line: ``seq`` is the enqueue's millisecond then random bits, strictly increasing
within one process and ordered across writers by the clock (``firestore_docs.next_seq``
says why not a counter document). It is unique: the enqueue's batch first creates the
seq's own guard document (``seqs``, its id a hash of the seq, so these writes spread over
the key space rather than hot-spot one end); a seq another enqueue took fails that batch
whole and the enqueue draws again. The cost: one small extra write per enqueue. Counts (``count_active``,
``count_queued``, ``position``) are aggregation queries: one request, no documents read,
O(log n) in queue depth on Firestore's indexes.

Composite indexes a deployment needs (``infra/gcp``): runs (queue, state, priority, seq,
__name__), (queue, seq desc), (state, seq desc), (queue, state, seq desc); events (run_id,
version); jobs (name, version desc); slots need only the automatic single-field index.

The SDK (``google-cloud-firestore``, the ``gcp`` extra) is imported when a store is built,
never when this module is imported.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import uuid4

from launchq.adapters.stores import common
from launchq.adapters.stores.firestore_catalog import FirestoreCatalog
from launchq.adapters.stores.firestore_docs import (
    FirestoreDocs,
    event_doc,
    event_id,
    key_id,
    next_seq,
    quoted,
    run_doc,
    run_from,
    seq_id,
)
from launchq.adapters.stores.firestore_keys import FirestoreKeys
from launchq.adapters.stores.firestore_moves import ATTEMPTS, FirestoreMoves, missing_run
from launchq.domain.models import Queue, Run, RunEvent, RunUpdate
from launchq.domain.states import ACTIVE, RunState
from launchq.errors import AlreadyExists, BackendUnavailable, Conflict, NotFound, StaleWrite
from launchq.ports import LogTail, RunStore

if TYPE_CHECKING:
    from google.cloud.firestore import Client, CollectionReference, DocumentReference, Query, Transaction

__all__ = ["FirestoreRunStore"]


class FirestoreRunStore(FirestoreCatalog, FirestoreKeys, RunStore):
    """A ``RunStore`` in one Firestore database, its collections named ``<prefix>_<kind>``.

    ``client`` is injected (None: built from the environment: project, credentials, and
    ``FIRESTORE_EMULATOR_HOST`` for the emulator).
    """

    def __init__(self, client: Client | None = None, prefix: str = "launchq") -> None:
        self._docs = FirestoreDocs(client, prefix)
        self._moves = FirestoreMoves(self._docs)

    # -- queues -------------------------------------------------------------------------
    def create_queue(self, queue: Queue) -> None:
        fields = {"name": queue.name, "version": queue.version, "body": queue.model_dump_json()}
        self._docs.create_named("queues", "queue", queue.name, fields)

    def get_queue(self, name: str) -> Queue:
        return Queue.model_validate_json(self._docs.get_named("queues", "queue", name)["body"])

    def list_queues(self) -> list[Queue]:
        docs = self._docs
        found = docs.stream(docs.collection("queues").order_by("name"), "listing queues")
        return [Queue.model_validate_json(doc["body"]) for doc in found]

    def update_queue(self, queue: Queue) -> Queue:
        docs = self._docs
        ref = docs.collection("queues").document(quoted(queue.name))
        stored = queue.model_copy(update={"version": queue.version + 1}, deep=True)

        def attempt(tx: Transaction) -> None:
            current = self.get_queue_in(tx, ref, queue.name)
            if current.version != queue.version:
                raise StaleWrite(
                    f"queue {queue.name!r} is at version {current.version}, not {queue.version}",
                    field="version",
                )
            tx.set(ref, {"name": queue.name, "version": stored.version, "body": stored.model_dump_json()})

        with docs.call(f"updating queue {queue.name!r}"):
            docs.sdk.transactional(attempt)(docs.client.transaction())
        return stored.model_copy(deep=True)

    @staticmethod
    def get_queue_in(tx: Transaction, ref: DocumentReference, name: str) -> Queue:
        snapshot = ref.get(transaction=tx)
        if not snapshot.exists:
            raise NotFound(f"queue {name!r} does not exist", field="queue")
        return Queue.model_validate_json((snapshot.to_dict() or {})["body"])

    def delete_queue(self, name: str) -> None:
        self.get_queue(name)
        docs = self._docs
        blocking = docs.count(docs.runs_of(name, *common.LIVE_OR_WAITING), "counting a queue's runs")
        if blocking:
            raise Conflict(f"queue {name!r} still holds {blocking} queued or active runs", field="name")
        with docs.call(f"deleting queue {name!r}"):
            docs.collection("queues").document(quoted(name)).delete()

    # -- runs ---------------------------------------------------------------------------
    def add_run(self, run: Run) -> tuple[Run, bool]:
        self.get_queue(run.queue)
        key = None if run.idempotency_key is None else key_id(run.queue, run.idempotency_key)
        for _ in range(ATTEMPTS):
            if (existing := self._keyed(key)) is not None:
                return existing, False
            if self._docs.get("runs", run.id, "reading a run") is not None:
                raise AlreadyExists(f"run {run.id!r} already exists", field="id")
            stored = self._enqueue_once(run, key)
            if stored is not None:
                return stored, True
        raise BackendUnavailable("enqueueing kept losing its seq to other enqueues; retry")

    def _enqueue_once(self, run: Run, key: str | None) -> Run | None:
        """One batch: the seq's guard first (``seq_id``: a taken seq applies nothing and is
        tried again), then the idempotency key, the run and its first event. None: a guard
        was taken (the seq, or the key by a twin enqueue); the caller looks again."""
        docs = self._docs
        stored, event = common.enqueued(run, next_seq())
        batch = docs.client.batch()
        batch.create(docs.collection("seqs").document(seq_id(stored.seq)), {"run_id": run.id})
        if key is not None:
            batch.create(docs.collection("keys").document(key), {"run_id": run.id, "queue": run.queue})
        batch.create(docs.collection("runs").document(run.id), run_doc(stored, None))
        first = event_doc(event, 1, uuid4().hex)
        batch.create(docs.collection("events").document(event_id(run.id, 1)), first)
        try:
            with docs.call("enqueueing a run"):
                batch.commit()
        except AlreadyExists:
            return None
        return stored

    def _keyed(self, key: str | None) -> Run | None:
        """The run enqueued under idempotency ``key``, if any."""
        found = None if key is None else self._docs.get("keys", key, "reading an idempotency key")
        return None if found is None else self.get_run(found["run_id"])

    def get_run(self, run_id: str) -> Run:
        found = self._docs.get("runs", run_id, "reading a run")
        if found is None:
            raise missing_run(run_id)
        return run_from(found)

    def list_runs(
        self,
        queue: str | None = None,
        states: Iterable[RunState] | None = None,
        limit: int = 1000,
    ) -> list[Run]:
        docs = self._docs
        query: Query | CollectionReference = docs.collection("runs")
        if queue is not None:
            query = docs.where(query, "queue", "==", queue)
        if states is not None:
            wanted = sorted({RunState(state).value for state in states})
            if not wanted:
                return []
            query = docs.where(query, "state", "in", wanted)
        ordered = query.order_by("seq", direction="DESCENDING").limit(limit)
        return [run_from(doc) for doc in docs.stream(ordered, "listing runs")]

    def position(self, run: Run) -> int | None:
        found = self._docs.get("runs", run.id, "reading a run")
        if found is None or found["state"] != RunState.QUEUED.value:
            return None
        docs = self._docs
        line = docs.runs_of(found["queue"], RunState.QUEUED)
        before = docs.where(line, "priority", "<", found["priority"])
        same = docs.where(docs.where(line, "priority", "==", found["priority"]), "seq", "<", found["seq"])
        return docs.count(before, "placing a run") + docs.count(same, "placing a run") + 1

    def positions(self, runs: Iterable[Run]) -> dict[str, int]:
        wanted = {run.id: run.queue for run in runs}
        places: dict[str, int] = {}
        for queue in set(wanted.values()):
            line = self._docs.stream(self._docs.line(queue), "reading a queue's line")
            ids = [run_from(doc).id for doc in line]
            places.update((run_id, place) for place, run_id in enumerate(ids, 1) if run_id in wanted)
        return places

    def count_active(self, queue: str) -> int:
        return self._docs.count(self._docs.runs_of(queue, *ACTIVE), "counting active runs")

    def count_queued(self, queue: str) -> int:
        return self._docs.count(self._docs.runs_of(queue, RunState.QUEUED), "counting queued runs")

    def claim(
        self, queue: str, now: datetime, lease_until: datetime, claimer: str = "dispatcher"
    ) -> Run | None:
        return self._moves.claim(self.get_queue(queue), now, lease_until, claimer)

    def transition(
        self,
        run_id: str,
        expected: RunState,
        to: RunState,
        reason: str,
        now: datetime,
        update: RunUpdate | None = None,
        expected_version: int | None = None,
    ) -> Run:
        return self._moves.transition(run_id, expected, to, reason, now, update, expected_version)

    def renew_lease(self, run_id: str, version: int, lease_until: datetime) -> Run:
        return self._moves.renew_lease(run_id, version, lease_until)

    def save_log_tail(self, run_id: str, tail: LogTail) -> None:
        self.get_run(run_id)
        with self._docs.call("saving a log tail"):
            self._docs.collection("tails").document(run_id).set({"body": tail.model_dump_json()})

    def log_tail(self, run_id: str) -> LogTail | None:
        self.get_run(run_id)
        found = self._docs.get("tails", run_id, "reading a log tail")
        return None if found is None else LogTail.model_validate_json(found["body"])

    def events(self, run_id: str) -> list[RunEvent]:
        self.get_run(run_id)
        docs = self._docs
        query = docs.where(docs.collection("events"), "run_id", "==", run_id).order_by("version")
        return [RunEvent.model_validate_json(doc["body"]) for doc in docs.stream(query, "reading events")]
