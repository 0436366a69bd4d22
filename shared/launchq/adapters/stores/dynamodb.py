"""``DynamoRunStore``: the ``RunStore`` on one DynamoDB table (the layout is in ``dynamodb_items``).

Every change of a run is one ``TransactWriteItems`` conditional on the run's expected
state and version: it writes the run, appends its event, keeps the queue's ``active`` and
``queued`` counters and the run's pending entry in step. A claim reads the head of the
queue's line (a strongly consistent ``Query`` of its first few pending entries) and takes
the first in one transaction that also raises ``active`` only while it stays under
``max_jobs``; of two dispatchers racing for one run, one wins and the other moves on to
the next entry (a bounded number of times, then BackendUnavailable). All reads are strongly
consistent except listings, which find run ids on an index (eventually consistent on AWS)
and re-check each run's current state and queue before returning it.

Every call reports its consumed capacity into ``store.consumed``. SDK errors never leave
the store: failed conditions become StaleWrite / AlreadyExists / Conflict / NotFound as
the port documents, everything else BackendUnavailable (see ``dynamodb_table``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING

from launchq.adapters.stores import common
from launchq.adapters.stores import dynamodb_items as items
from launchq.adapters.stores.dynamodb_items import ABSENT, EXISTS, TransactionItems, n, s
from launchq.adapters.stores.dynamodb_table import (
    Cancelled,
    ConditionFailed,
    ConsumedCapacity,
    DynamoTable,
    backoff,
    build_client,
)
from launchq.domain.models import Queue, Run, RunEvent, RunUpdate, Schedule
from launchq.domain.states import RunState
from launchq.errors import AlreadyExists, BackendUnavailable, Conflict, NotFound, StaleWrite
from launchq.ports import RunStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    Item = dict[str, AttributeValueTypeDef]

__all__ = ["ConsumedCapacity", "DynamoRunStore", "create_table"]

#: Claim transactions one call may lose to racing claimers before it gives up (BackendUnavailable).
CLAIM_ATTEMPTS = 32
#: Pending entries read per look at the head of the line: after losing one, try the next.
CLAIM_WINDOW = 4


def create_table(client: DynamoDBClient, table_name: str) -> None:
    """Create the store's table (on demand) and wait until it is usable.

    For tests and local set-ups; deployments declare the same table in template.yaml.
    """
    table = DynamoTable(client, table_name, ConsumedCapacity())
    table.create(items.table_definition(table_name))


class DynamoRunStore(RunStore):
    """A ``RunStore`` on the DynamoDB table ``table_name``; builds a client when none is given."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.consumed = ConsumedCapacity()
        self._db = DynamoTable(client if client is not None else build_client(), table_name, self.consumed)
        self._tx = TransactionItems(table_name)

    # -- plumbing -----------------------------------------------------------------------
    def _queue_item(self, name: str) -> Item:
        item = self._db.get(items.queue_key(name))
        if item is None:
            raise NotFound(f"queue {name!r} does not exist", field="queue")
        return item

    def _run(self, run_id: str) -> Run:
        item = self._db.get(items.run_key(run_id))
        if item is None:
            raise NotFound(f"run {run_id!r} does not exist", field="run")
        return items.run_from(item)

    # -- queues -------------------------------------------------------------------------
    def create_queue(self, queue: Queue) -> None:
        try:
            self._db.put(items.queue_item(queue), ABSENT)
        except ConditionFailed as exc:
            raise AlreadyExists(f"queue {queue.name!r} already exists", field="name") from exc

    def get_queue(self, name: str) -> Queue:
        return items.queue_from(self._queue_item(name))

    def list_queues(self) -> list[Queue]:
        found = self._db.query("PK = :pk", {":pk": s(items.QUEUES_PK)})
        return [items.queue_from(item) for item in found]

    def update_queue(self, queue: Queue) -> Queue:
        stored = queue.model_copy(update={"version": queue.version + 1}, deep=True)
        try:
            self._db.update(
                items.queue_key(queue.name),
                "SET body = :body, #version = :new, max_jobs = :max_jobs",
                {
                    ":body": s(stored.model_dump_json()),
                    ":new": n(stored.version),
                    ":max_jobs": n(stored.max_jobs),
                    ":old": n(queue.version),
                },
                condition=f"{EXISTS} AND #version = :old",
                names={"#version": "version"},
            )
        except ConditionFailed as exc:
            if exc.item is None:
                raise NotFound(f"queue {queue.name!r} does not exist", field="queue") from exc
            current = items.number(exc.item, "version")
            raise StaleWrite(
                f"queue {queue.name!r} is at version {current}, not {queue.version}", field="version"
            ) from exc
        return stored

    def delete_queue(self, name: str) -> None:
        try:
            self._db.delete(
                items.queue_key(name), f"{EXISTS} AND active = :zero AND queued = :zero", {":zero": n(0)}
            )
        except ConditionFailed as exc:
            if exc.item is None:
                raise NotFound(f"queue {name!r} does not exist", field="queue") from exc
            blocking = items.number(exc.item, "active") + items.number(exc.item, "queued")
            raise Conflict(
                f"queue {name!r} still holds {blocking} queued or active runs", field="name"
            ) from exc

    # -- runs ---------------------------------------------------------------------------
    def add_run(self, run: Run) -> tuple[Run, bool]:
        stored, event = common.enqueued(run, self._next_seq())
        transaction = [
            self._tx.count_queue(stored.queue, queued=1),
            self._tx.put_run(stored, None),
            self._tx.put(items.pending_item(stored)),
            self._tx.put(items.event_item(event, stored.version)),
        ]
        if stored.idempotency_key is not None:
            transaction.append(self._tx.put(items.idempotency_item(stored, stored.idempotency_key), ABSENT))
        try:
            self._db.transact(transaction)
        except Cancelled as exc:
            if exc.failed(0):
                raise NotFound(f"queue {run.queue!r} does not exist", field="queue") from exc
            key_holder = exc.item(4)
            if exc.failed(4) and key_holder is not None:
                return self._run(items.text(key_holder, "run_id")), False
            raise AlreadyExists(f"run {run.id!r} already exists", field="id") from exc
        return stored, True

    def _next_seq(self) -> int:
        """The next run seq: an atomic counter, so seqs only grow (gaps are harmless)."""
        updated = self._db.update(
            items.COUNTER_KEY, "ADD #value :one", {":one": n(1)}, names={"#value": "value"}
        )
        return items.number(updated, "value")

    def get_run(self, run_id: str) -> Run:
        return self._run(run_id)

    def list_runs(
        self,
        queue: str | None = None,
        states: Iterable[RunState] | None = None,
        limit: int = 1000,
    ) -> list[Run]:
        wanted = None if states is None else sorted({RunState(state) for state in states})
        if wanted == [] or limit <= 0:
            return []
        filters: list[RunState | None] = [None] if wanted is None else list(wanted)
        partitions = [items.index_partition(queue, state) for state in filters]
        newest = heapq.merge(*(self._index_ids(*partition, limit) for partition in partitions), reverse=True)
        ids = [run_id for _, run_id in islice(newest, limit)]
        runs = {
            run.id: run for run in map(items.run_from, self._db.batch_get([items.run_key(i) for i in ids]))
        }
        # An index lags its table on AWS: keep only runs that still match the filters.
        return [
            run
            for run in (runs[run_id] for run_id in ids if run_id in runs)
            if (queue is None or run.queue == queue) and (wanted is None or run.state in wanted)
        ]

    def _index_ids(self, index: str, attribute: str, partition: str, limit: int) -> Iterator[tuple[int, str]]:
        """(seq, run id) of one index partition, newest first."""
        found = self._db.query(
            f"{attribute} = :p", {":p": s(partition)}, index=index, forward=False, page_size=limit
        )
        for item in found:
            yield items.number(item, "seq"), items.run_id_from_index(item)

    def position(self, run: Run) -> int | None:
        stored = self._db.get(items.run_key(run.id))
        if stored is None or items.text(stored, "state") != RunState.QUEUED.value:
            return None
        queued = items.run_from(stored)
        # Entries sort by (priority, seq): those up to and including its own are the place in line.
        return self._db.count(
            "PK = :pk AND SK BETWEEN :first AND :own",
            {
                ":pk": s(items.line_pk(queued.queue)),
                ":first": s(items.PENDING_PREFIX),
                ":own": s(items.pending_sk(queued)),
            },
        )

    def positions(self, runs: Iterable[Run]) -> dict[str, int]:
        # The pending entries are the line (kept in the runs' own transactions): one query
        # per queue, up to the last entry asked about, numbers them all.
        asked = {run.id: run for run in runs}
        last: dict[str, str] = {}
        for run in asked.values():
            last[run.queue] = max(last.get(run.queue, ""), items.pending_sk(run))
        places: dict[str, int] = {}
        for queue, bound in last.items():
            line = self._db.query(
                "PK = :pk AND SK BETWEEN :first AND :last",
                {":pk": s(items.line_pk(queue)), ":first": s(items.PENDING_PREFIX), ":last": s(bound)},
            )
            numbered = ((items.text(entry, "run_id"), place) for place, entry in enumerate(line, 1))
            places.update((run_id, place) for run_id, place in numbered if run_id in asked)
        return places

    def count_active(self, queue: str) -> int:
        return self._counter(queue, "active")

    def count_queued(self, queue: str) -> int:
        return self._counter(queue, "queued")

    def _counter(self, queue: str, name: str) -> int:
        item = self._db.get(items.queue_key(queue))
        return 0 if item is None else items.number(item, name)

    def claim(self, queue: str, now: datetime, lease_until: datetime) -> Run | None:
        settings = self._queue_item(queue)
        max_jobs, active = items.number(settings, "max_jobs"), items.number(settings, "active")
        if max_jobs != -1 and active >= max_jobs:
            return None
        attempts = 0
        while attempts < CLAIM_ATTEMPTS:
            heads = list(
                islice(
                    self._db.query(
                        "PK = :pk AND begins_with(SK, :pending)",
                        {":pk": s(items.line_pk(queue)), ":pending": s(items.PENDING_PREFIX)},
                        page_size=CLAIM_WINDOW,
                    ),
                    CLAIM_WINDOW,
                )
            )
            if not heads:
                return None
            for head in heads:
                attempts += 1
                try:
                    claimed = self._take(queue, head, now, lease_until)
                except _QueueFull:
                    return None
                if claimed is not None:
                    return claimed
                backoff(attempts)  # lost a race: let the winner's transaction settle first
        raise BackendUnavailable(f"lost {attempts} claims on queue {queue!r} to racing claimers; retry")

    def _take(self, queue: str, head: Item, now: datetime, lease_until: datetime) -> Run | None:
        """Claim the run of pending entry ``head``: the claimed run, or None if another claimer took it.

        Raises _QueueFull when the queue has no free slot left.
        """
        run = self._run(items.text(head, "run_id"))
        if run.state is not RunState.QUEUED:
            return None  # claimed since the line was read
        moved, event = common.claimed(run, now, lease_until)
        transaction = [
            self._tx.take_slot(queue),
            self._tx.delete(items.key(items.text(head, "PK"), items.text(head, "SK")), EXISTS),
            self._tx.put_run(moved, run),
            self._tx.put(items.event_item(event, moved.version)),
        ]
        try:
            self._db.transact(transaction)
        except Cancelled as exc:
            if not exc.failed(0):
                return None  # lost the race for this run
            if exc.item(0) is None:
                raise NotFound(f"queue {queue!r} does not exist", field="queue") from exc
            raise _QueueFull from exc
        return moved

    def transition(
        self,
        run_id: str,
        expected: RunState,
        to: RunState,
        reason: str,
        now: datetime,
        update: RunUpdate | None = None,
    ) -> Run:
        common.ensure_allowed(expected, to)
        current = self._run(run_id)
        moved, event = common.transitioned(current, expected, to, reason=reason, now=now, update=update)
        transaction = [self._tx.put_run(moved, current), self._tx.put(items.event_item(event, moved.version))]
        active = int(to.active) - int(expected.active)
        queued = int(to is RunState.QUEUED) - int(expected is RunState.QUEUED)
        if active or queued:
            transaction.append(self._tx.count_queue(current.queue, active=active, queued=queued))
        if to is RunState.QUEUED:  # back in line at its original place: same priority and seq
            transaction.append(self._tx.put(items.pending_item(moved)))
        elif expected is RunState.QUEUED:
            transaction.append(self._tx.delete(items.pending_key(current)))
        try:
            self._db.transact(transaction)
        except Cancelled as exc:
            if exc.failed(0):
                raise items.moved_on(run_id, expected, exc.item(0)) from exc
            raise NotFound(f"queue {current.queue!r} does not exist", field="queue") from exc
        return moved

    def events(self, run_id: str) -> list[RunEvent]:
        found = self._db.query(
            "PK = :pk AND begins_with(SK, :events)",
            {":pk": s(items.run_pk(run_id)), ":events": s(items.EVENT_PREFIX)},
        )
        history = [items.event_from(item) for item in found]
        if not history:  # every stored run has its enqueue event
            raise NotFound(f"run {run_id!r} does not exist", field="run")
        return history

    # -- schedules ----------------------------------------------------------------------
    def create_schedule(self, schedule: Schedule) -> None:
        try:
            self._db.put(items.schedule_item(schedule), ABSENT)
        except ConditionFailed as exc:
            raise AlreadyExists(f"schedule {schedule.name!r} already exists", field="name") from exc

    def get_schedule(self, name: str) -> Schedule:
        item = self._db.get(items.schedule_key(name))
        if item is None:
            raise NotFound(f"schedule {name!r} does not exist", field="schedule")
        return items.schedule_from(item)

    def list_schedules(self) -> list[Schedule]:
        found = self._db.query("PK = :pk", {":pk": s(items.SCHEDULES_PK)})
        return [items.schedule_from(item) for item in found]

    def delete_schedule(self, name: str) -> None:
        try:
            self._db.delete(items.schedule_key(name), EXISTS)
        except ConditionFailed as exc:
            raise NotFound(f"schedule {name!r} does not exist", field="schedule") from exc

    def advance_schedule(
        self, name: str, expected_next: datetime, next_fire_at: datetime, last_run_id: str
    ) -> None:
        schedule = self.get_schedule(name)
        if schedule.next_fire_at != expected_next:
            raise items.not_due(name, schedule.next_fire_at, expected_next)
        advanced = schedule.model_copy(update={"next_fire_at": next_fire_at, "last_run_id": last_run_id})
        try:
            self._db.update(
                items.schedule_key(name),
                "SET body = :body, next_fire_at = :next",
                {
                    ":body": s(advanced.model_dump_json()),
                    ":next": n(items.instant(next_fire_at)),
                    ":expected": n(items.instant(expected_next)),
                },
                condition=f"{EXISTS} AND next_fire_at = :expected",
            )
        except ConditionFailed as exc:
            if exc.item is None:
                raise NotFound(f"schedule {name!r} does not exist", field="schedule") from exc
            raise items.not_due(name, items.schedule_from(exc.item).next_fire_at, expected_next) from exc


class _QueueFull(Exception):
    pass
