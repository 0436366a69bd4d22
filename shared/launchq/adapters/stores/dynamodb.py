"""``DynamoRunStore``: the ``RunStore`` on one DynamoDB table (the layout is in ``dynamodb_items``).

A run is one item, and every change of it is one conditional ``PutItem`` on the state and
version it was read in, which also appends its event to the item. Nothing else is written
on an unlimited queue; on a limited one a claim also takes a slot and the end of a run
frees it, one single-item conditional write each (``dynamodb_slots`` says why that keeps
``max_jobs``). A claim reads the head of the queue's line (``dynamodb_line``) and moves
the first run it can; of two dispatchers racing for one run, one wins and the other moves
on to the next (a bounded number of times, then BackendUnavailable). Run reads are
strongly consistent; the line, counts and listings read an index, eventually consistent on
AWS, and listings re-check each run's current state and queue before returning it.

What one run's life costs, by AWS's billing rules: 12 write units on a limited queue, 10 on
an unlimited one (51 in the earlier layout); see ``dynamodb_billing`` and
tests/integration/test_dynamodb_capacity.py. Runs of the earlier layout are read, claimed
and moved (``dynamodb_items``). Every call reports its consumed capacity into
``store.consumed``. SDK errors never leave the store: failed conditions become StaleWrite /
AlreadyExists / Conflict / NotFound as the port documents, everything else BackendUnavailable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from launchq.adapters.stores import common
from launchq.adapters.stores import dynamodb_items as items
from launchq.adapters.stores.dynamodb_agents import DynamoAgentRuns
from launchq.adapters.stores.dynamodb_items import ABSENT, EXISTS, n, s
from launchq.adapters.stores.dynamodb_jobs import DynamoJobs
from launchq.adapters.stores.dynamodb_keys import DynamoKeys
from launchq.adapters.stores.dynamodb_line import Entry, Line
from launchq.adapters.stores.dynamodb_listing import Listing
from launchq.adapters.stores.dynamodb_queues import DynamoQueues
from launchq.adapters.stores.dynamodb_schedules import DynamoSchedules
from launchq.adapters.stores.dynamodb_slots import Slots, is_full
from launchq.adapters.stores.dynamodb_table import (
    Cancelled,
    ConditionFailed,
    ConsumedCapacity,
    DynamoTable,
    backoff,
    build_client,
)
from launchq.adapters.stores.dynamodb_writes import TransactionItems
from launchq.domain.models import Run, RunEvent, RunUpdate
from launchq.domain.states import RunState
from launchq.errors import AlreadyExists, BackendUnavailable, NotFound
from launchq.ports import RunStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

    Item = dict[str, AttributeValueTypeDef]

__all__ = ["ConsumedCapacity", "DynamoRunStore", "create_table"]

#: Claims one call may lose to racing claimers before it gives up (BackendUnavailable).
CLAIM_ATTEMPTS = 32
#: Runs read per look at the head of the line: after losing one, try the next.
CLAIM_WINDOW = 4


def create_table(client: DynamoDBClient, table_name: str) -> None:
    """Create the store's table (on demand) and wait until it is usable.

    For tests and local set-ups; deployments declare the same table in template.yaml.
    """
    table = DynamoTable(client, table_name, ConsumedCapacity())
    table.create(items.table_definition(table_name))


class DynamoRunStore(DynamoQueues, DynamoJobs, DynamoKeys, DynamoSchedules, DynamoAgentRuns, RunStore):
    """A ``RunStore`` on the DynamoDB table ``table_name``; builds a client when none is given."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.consumed = ConsumedCapacity()
        self._db = DynamoTable(client if client is not None else build_client(), table_name, self.consumed)
        self._tx = TransactionItems(table_name)
        self._line = Line(self._db)
        self._listing = Listing(self._db)
        self._slots = Slots(self._db, self._tx)
        self._seq_lock = threading.Lock()
        self._last_seq = 0

    # -- plumbing -----------------------------------------------------------------------
    def _run_and_item(self, run_id: str) -> tuple[Run, Item]:
        item = self._db.get(items.run_key(run_id))
        if item is None:
            raise NotFound(f"run {run_id!r} does not exist", field="run")
        return items.run_from(item), item

    def _next_seq(self) -> int:
        """The enqueue time in microseconds, and always more than this store's last one: seqs
        order runs without a counter item to write (across machines, as their clocks do)."""
        with self._seq_lock:
            self._last_seq = max(time.time_ns() // 1000, self._last_seq + 1)
            return self._last_seq

    # -- runs ---------------------------------------------------------------------------
    def add_run(self, run: Run) -> tuple[Run, bool]:
        self._queue_item(run.queue)
        stored, event = common.enqueued(run, self._next_seq())
        item = items.run_item(stored, [items.event_entry(event)])
        if stored.idempotency_key is None:
            try:
                self._db.put(item, ABSENT)
            except ConditionFailed as exc:
                raise AlreadyExists(f"run {run.id!r} already exists", field="id") from exc
            return stored, True
        key = self._tx.put(items.idempotency_item(stored, stored.idempotency_key), ABSENT)
        try:
            self._db.transact([self._tx.put_run(item, None), key])
        except Cancelled as exc:
            key_holder = exc.item(1)
            if exc.failed(1) and key_holder is not None:
                return self._run_and_item(items.text(key_holder, "run_id"))[0], False
            raise AlreadyExists(f"run {run.id!r} already exists", field="id") from exc
        return stored, True

    def get_run(self, run_id: str) -> Run:
        return self._run_and_item(run_id)[0]

    def list_runs(
        self,
        queue: str | None = None,
        states: Iterable[RunState] | None = None,
        limit: int = 1000,
    ) -> list[Run]:
        wanted = None if states is None else sorted({RunState(state) for state in states})
        if wanted == [] or limit <= 0:
            return []
        return self._listing.runs(queue, wanted, limit, [queue] if queue is not None else self._queue_names())

    def _queue_names(self) -> list[str]:
        """Every queue ever created (deleted ones keep their runs)."""
        named = self._db.query("PK = :pk", {":pk": s(items.QUEUE_NAMES_PK)})
        return sorted({items.text(item, "SK") for item in named} | {q.name for q in self.list_queues()})

    def position(self, run: Run) -> int | None:
        stored = self._db.get(items.run_key(run.id))
        if stored is None or items.text(stored, "state") != RunState.QUEUED.value:
            return None
        return self._line.place(items.run_from(stored))

    def positions(self, runs: Iterable[Run]) -> dict[str, int]:
        return self._line.places(runs)

    def count_active(self, queue: str) -> int:
        active = s(items.state_partition(queue, RunState.CLAIMED))
        counted = self._db.count(f"{items.BY_QUEUE_STATE} = :p", {":p": active}, index=items.BY_QUEUE_STATE)
        return counted + self._old_count(queue, "active")

    def count_queued(self, queue: str) -> int:
        return self._line.length(queue) + self._old_count(queue, "queued")

    def claim(
        self, queue: str, now: datetime, lease_until: datetime, claimer: str = "dispatcher"
    ) -> Run | None:
        settings = self._queue_item(queue)
        limited = items.number(settings, "max_jobs") != -1
        if limited:
            slots = self._slots.read(
                queue, items.number(settings, "max_jobs") - items.number(settings, "active")
            )
            if is_full(slots) and not self._slots.repair(queue, slots):
                return None
        attempts = 0
        while attempts < CLAIM_ATTEMPTS:
            heads = self._line.heads(queue, CLAIM_WINDOW, old=items.number(settings, "queued") > 0)
            if not heads:
                return None
            for head in heads:
                attempts += 1
                try:
                    claimed = self._take(head, queue, limited, now, lease_until, claimer)
                except _QueueFull:
                    return None
                if claimed is not None:
                    return claimed
                backoff(attempts)  # lost a race: let the winner's write settle first
        raise BackendUnavailable(f"lost {attempts} claims on queue {queue!r} to racing claimers; retry")

    def _take(
        self, head: Entry, queue: str, limited: bool, now: datetime, lease_until: datetime, claimer: str
    ) -> Run | None:
        """Claim the run at ``head``: the claimed run, or None if another claimer took it (or
        it moved on). Raises _QueueFull when the queue has no free slot left."""
        try:
            run, item = self._run_and_item(head[2])
        except NotFound:
            return None  # an index entry of a run not written yet, or a stale entry
        if run.state is not RunState.QUEUED or run.queue != queue:
            return None  # claimed since the line was read
        moved, event = common.claimed(run, now, lease_until, claimer)
        token = moved.version if limited else None
        claimed = items.moved_item(moved, event, item, slot=token)
        if head[3]:  # a run of the earlier layout: its entry and count leave with it, at once
            entries = [self._tx.put_run(claimed, run), *self._tx.leave_old_line(run)]
            if limited:
                entries.append(self._slots.take_in_transaction(queue, run.id, moved.version))
            try:
                self._db.transact(entries)
            except Cancelled as exc:
                if limited and exc.failed(3):
                    raise _QueueFull from exc
                return None
            return moved
        if limited and not self._slots.take(queue, run.id, moved.version):
            raise _QueueFull
        try:
            self._db.put(claimed, items.RUN_UNCHANGED, items.unchanged(run), items.RUN_NAMES)
        except ConditionFailed:
            return None  # the slot stays: its holder won this run, or it is stale (dynamodb_slots)
        return moved

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
        common.ensure_allowed(expected, to)
        current, item = self._run_and_item(run_id)
        moved, event = common.transitioned(
            current, expected, to, reason=reason, now=now, update=update, expected_version=expected_version
        )
        token = items.slot_token(item)
        # an active run of the earlier layout stays counted on its queue item while active
        old_active = (items.is_old(item) and expected.active) or "la" in item
        slot = self._slot_after(current, token, expected, to, moved.version)
        moved_item = items.moved_item(moved, event, item, slot=slot)
        if old_active and to.active:
            moved_item["la"] = n(1)
        others: list[TransactWriteItemTypeDef] = []
        if items.is_old(item) and expected is RunState.QUEUED:
            others += self._tx.leave_old_line(current)
        if old_active and not to.active:  # its slot moves from the queue item's count to the slots
            others.append(self._tx.count_queue(current.queue, active=-1))
            if self._db.get(items.slots_key(current.queue)) is not None:
                others.append(
                    self._tx.update(items.slots_key(current.queue), "ADD room :one", EXISTS, {":one": n(1)})
                )
        self._write_move(moved_item, current, expected, others, expected_version)
        if token is not None and not to.active:
            self._slots.release(current.queue, run_id, token)
        return moved

    def _slot_after(
        self, current: Run, token: int | None, expected: RunState, to: RunState, version: int
    ) -> int | None:
        """The slot the moved run holds: kept between active states, none outside them, and
        one taken (whatever the room, as the earlier layout's count did) when a transition
        rather than a claim makes a run of a limited queue active."""
        if not to.active:
            return None
        if expected.active:
            return token
        if items.number(self._queue_item(current.queue), "max_jobs") == -1:
            return None
        self._slots.hold(current.queue, current.id, version)
        return version

    def _write_move(
        self,
        item: Item,
        current: Run,
        expected: RunState,
        others: list[TransactWriteItemTypeDef],
        expected_version: int | None,
    ) -> None:
        """Write a moved run (one conditional PutItem, or a transaction with ``others``) on the
        state and version ``current`` was read in: ``expected_version`` when one was given."""
        try:
            if not others:
                self._db.put(item, items.RUN_UNCHANGED, items.unchanged(current), items.RUN_NAMES)
            else:
                self._db.transact([self._tx.put_run(item, current), *others])
        except ConditionFailed as exc:
            raise items.moved_on(current.id, expected, exc.item, expected_version) from exc
        except Cancelled as exc:
            if exc.failed(0):
                raise items.moved_on(current.id, expected, exc.item(0), expected_version) from exc
            raise NotFound(f"queue {current.queue!r} does not exist", field="queue") from exc

    def events(self, run_id: str) -> list[RunEvent]:
        _, item = self._run_and_item(run_id)
        older: list[RunEvent] = []
        if items.has_old_events(item):  # written by the earlier layout, one item per event
            found = self._db.query(
                "PK = :pk AND begins_with(SK, :events)",
                {":pk": s(items.run_pk(run_id)), ":events": s(items.EVENT_PREFIX)},
            )
            older = [items.event_from(event) for event in found]
        return older + [items.event_from_entry(run_id, entry) for entry in items.history(item)]


class _QueueFull(Exception):
    pass
