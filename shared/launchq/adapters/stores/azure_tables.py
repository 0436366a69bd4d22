"""``AzureTablesStore``: the ``RunStore`` port on Azure Tables, with ETag optimistic concurrency.

Which service: an Azure **Storage account's Table service**. It is what Azurite serves (the
tests run the store against it), it bills per transaction and gigabyte (cents for a
launchq's load, where Cosmos DB bills provisioned or serverless request units), and it has
no partition size limit (Cosmos DB caps a logical partition at 20 GB, and a queue's runs
and events share one). The same code runs on Cosmos DB's Table API (same SDK, same
connection-string form): it uses only what both serve (point reads, parameterised
``query_entities``, ``IfNotModified`` writes, entity group transactions in one partition),
never a Storage-only feature.

Layout: tables ``<prefix><kind>``; a queue's line lives in one partition (PartitionKey
``q-<queue>`` of ``<prefix>runs``) so that a claim can be one transaction:

| table / partition | RowKey | holds |
|---|---|---|
| runs / q-<queue> | ``queue`` | the queue (packed JSON), ``Version``, ``Seq`` (its last seq) |
| runs / q-<queue> | ``slots``, ``slots-<1..7>`` | ``Active``: shards whose sum is the running count |
| runs / q-<queue> | ``line-<priority:02d><seq:020d>`` | ``RunId`` and a copy of the run: one per queued run |
| runs / q-<queue> | ``run-<id>`` | ``State``, ``Priority``, ``Seq``, ``Version``, the run (packed JSON) |
| runs / q-<queue> | ``event-<id>-<version:08d>`` | the event that produced that version |
| runs / q-<queue> | ``key-<sha256>`` | ``RunId``: an idempotency key used on the queue |
| runindex / <run id> | ``run`` | ``Queue``: where a run id lives (written before its run) |
| queues / ``queues`` | queue name | the names, so ``list_queues`` reads one partition |
| jobs, schedules, apikeys | see ``azure_tables_catalog`` | |
| tails / <run id> | ``tail`` | the run's shipped log tail (packed JSON) |

Order in line: a line entry's RowKey is the zero-padded priority (0, critical, runs first,
so no inversion is needed) then the zero-padded seq, so ``PartitionKey eq Q and RowKey ge
'line-'`` with a page of a few results returns the head in strict priority, then FIFO, order at
the cost of one read however deep the queue is. The claim (``azure_tables_moves``) reads
the head, then commits one transaction: delete the line entry on its ETag (proving the
run still waits), write the run claimed, raise the running count on
its ETag (so ``max_jobs`` is never exceeded) and create the event; a 412/409/404 commits
nothing and the claim reads again.

Events are their own entities, in the run's queue partition rather than a partition of
their own: a move writes its run and its event in one transaction, so "every version bump
appends exactly one event" holds even when a writer dies between two calls. An enqueue is
one transaction too: the queue entity's ``Seq`` on its ETag (so seqs in a queue strictly
increase), the run, its line entry, its event and its idempotency key.

What costs more than on the other stores, since Azure Tables has no secondary index and no
count: ``count_queued``, ``position`` and ``positions`` read the queue's line entries (keys
only, O(line)); ``list_runs`` of one queue reads that partition's runs and of all queues
the whole runs table, then sorts (O(runs)). Claims, enqueues, moves and ``count_active``
are O(1). Record sizes: ``azure_tables_entities``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from launchq.adapters.stores import common
from launchq.adapters.stores.azure_tables_catalog import TablesCatalog
from launchq.adapters.stores.azure_tables_edge import TablesEdge, etag
from launchq.adapters.stores.azure_tables_entities import (
    KEY_PREFIX,
    LINE_PREFIX,
    QUEUE_ROW,
    RUN_PREFIX,
    SEQ_DIGITS,
    Entity,
    clock_seq,
    event_entity,
    event_from,
    event_range,
    keys,
    line_entity,
    line_row,
    name_key,
    packed,
    prefix_range,
    queue_pk,
    run_entity,
    run_from,
    unpacked,
)
from launchq.adapters.stores.azure_tables_moves import ATTEMPTS, TablesMoves, backoff, missing_run
from launchq.azure.errors import import_sdk
from launchq.domain.models import Queue, Run, RunEvent, RunUpdate
from launchq.domain.states import RunState
from launchq.errors import AlreadyExists, BackendUnavailable, Conflict, InvalidInput, NotFound, StaleWrite
from launchq.ports import LogTail, RunStore

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient

__all__ = ["AzureTablesStore"]

_RANGE = "PartitionKey eq @pk and RowKey ge @first and RowKey lt @after"
_INDEX_ROW = "run"
_TAIL_ROW = "tail"


class AzureTablesStore(TablesCatalog, RunStore):
    """A ``RunStore`` in the tables ``<prefix><kind>`` of one account (see the module doc).

    ``service`` is injected; ``from_connection_string`` builds one. ``ensure_tables`` creates
    the tables a deployment needs (the Bicep template may create them instead).
    """

    def __init__(self, service: TableServiceClient, prefix: str = "launchq") -> None:
        self._edge = TablesEdge(service, prefix)
        self._moves = TablesMoves(self._edge)

    @classmethod
    def from_connection_string(cls, conn: str, prefix: str = "launchq") -> AzureTablesStore:
        """A store on the account of connection string ``conn`` (Storage or Cosmos DB Table API)."""
        sdk = import_sdk("azure.data.tables", "azure-data-tables")
        try:
            with TablesEdge.call("reading the Azure Tables connection string", field="connection_string"):
                service = sdk.TableServiceClient.from_connection_string(conn)
        except ValueError:  # the SDK's word for a malformed string; never echoed: it holds the key
            raise InvalidInput(
                "is not an Azure Tables connection string (AccountName=...;AccountKey=...;TableEndpoint=...)",
                field="connection_string",
            ) from None
        return cls(service, prefix)

    def ensure_tables(self) -> None:
        self._edge.ensure_tables()

    # -- queues -------------------------------------------------------------------------
    def create_queue(self, queue: Queue) -> None:
        edge, name = self._edge, queue.name
        names = {**keys("queues", name_key(name)), "Name": name}
        try:
            edge.create("queues", names, f"creating queue {name!r}")
        except AlreadyExists:
            if self._queue_entity(name) is not None:
                raise _taken(name) from None  # else a create that died half-way: finish it
        entity = {**_queue_fields(queue), "Seq": "0" * SEQ_DIGITS}
        try:
            edge.create("runs", entity, f"creating queue {name!r}")
        except AlreadyExists:
            raise _taken(name) from None

    def get_queue(self, name: str) -> Queue:
        found = self._queue_entity(name)
        if found is None:
            raise NotFound(f"queue {name!r} does not exist", field="queue")
        return Queue.model_validate_json(unpacked(found))

    def list_queues(self) -> list[Queue]:
        names = self._edge.query("queues", "PartitionKey eq @pk", {"pk": "queues"}, "listing queues")
        found = (self._queue_entity(str(entity["Name"])) for entity in names)
        return [Queue.model_validate_json(unpacked(entity)) for entity in found if entity is not None]

    def update_queue(self, queue: Queue) -> Queue:
        stored = queue.model_copy(update={"version": queue.version + 1}, deep=True)
        for attempt in range(ATTEMPTS):
            found = self._queue_entity(queue.name)
            if found is None:
                raise NotFound(f"queue {queue.name!r} does not exist", field="queue")
            if int(found["Version"]) != queue.version:
                raise StaleWrite(
                    f"queue {queue.name!r} is at version {found['Version']}, not {queue.version}",
                    field="version",
                )
            entity = {**_queue_fields(stored), "Seq": found["Seq"]}
            try:
                self._edge.replace("runs", entity, etag(found), f"updating queue {queue.name!r}")
            except (StaleWrite, NotFound):  # an enqueue moved its seq meanwhile: read again
                backoff(attempt)
                continue
            return stored.model_copy(deep=True)
        raise BackendUnavailable(f"queue {queue.name!r} kept changing under its update; retry")

    def delete_queue(self, name: str) -> None:
        """Deletes the queue entity on the ETag read before counting its runs: an enqueue
        meanwhile (which moves that ETag) makes the delete look again."""
        for attempt in range(ATTEMPTS):
            found = self._queue_entity(name)
            if found is None:
                raise NotFound(f"queue {name!r} does not exist", field="queue")
            blocking = self.count_queued(name) + self.count_active(name)
            if blocking:
                raise Conflict(f"queue {name!r} still holds {blocking} queued or active runs", field="name")
            try:
                self._edge.delete("runs", queue_pk(name), QUEUE_ROW, f"deleting queue {name!r}", etag(found))
            except StaleWrite:
                backoff(attempt)
                continue
            self._edge.delete("queues", "queues", name_key(name), f"deleting queue {name!r}")
            return
        raise BackendUnavailable(f"queue {name!r} kept changing under its delete; retry")

    def _queue_entity(self, name: str) -> Entity | None:
        return self._edge.get("runs", queue_pk(name), QUEUE_ROW, "reading a queue")

    # -- runs ---------------------------------------------------------------------------
    def add_run(self, run: Run) -> tuple[Run, bool]:
        key = None if run.idempotency_key is None else _key_row(run.idempotency_key)
        for attempt in range(ATTEMPTS):
            queue = self._queue_entity(run.queue)
            if queue is None:
                raise NotFound(f"queue {run.queue!r} does not exist", field="queue")
            if (existing := self._keyed(run.queue, key)) is not None:
                return existing, False
            self._claim_id(run)
            stored = self._enqueue_once(run, queue, key)
            if stored is not None:
                return stored, True
            backoff(attempt)
        raise BackendUnavailable("enqueueing kept losing its seq to other enqueues; retry")

    def _claim_id(self, run: Run) -> None:
        """Point the run id's index at the run's queue. Raises AlreadyExists (field ``id``)
        when a run of that id exists; an index left by an enqueue that never committed is
        taken over."""
        index = {**keys(run.id, _INDEX_ROW), "Queue": run.queue}
        try:
            self._edge.create("runindex", index, "indexing a run")
        except AlreadyExists:
            if self._run_entity(self._queue_of(run.id), run.id) is not None:
                raise AlreadyExists(f"run {run.id!r} already exists", field="id") from None
            self._edge.upsert("runindex", index, "indexing a run")

    def _enqueue_once(self, run: Run, queue: Entity, key: str | None) -> Run | None:
        """One transaction on the queue entity's ETag (see the module doc); None when it lost."""
        edge = self._edge
        stored, event = common.enqueued(run, max(int(queue["Seq"]) + 1, clock_seq()))
        seq = {**keys(queue_pk(run.queue), QUEUE_ROW), "Seq": f"{stored.seq:0{SEQ_DIGITS}d}"}
        ops = [
            edge.merge_op(seq, etag(queue)),
            edge.create_op(run_entity(stored)),
            edge.create_op(line_entity(stored)),
            edge.create_op(event_entity(run.queue, event, 1)),
        ]
        if key is not None:
            ops.append(edge.create_op({**keys(queue_pk(run.queue), key), "RunId": run.id}))
        return stored if edge.transact("runs", ops, "enqueueing a run") else None

    def _keyed(self, queue: str, key: str | None) -> Run | None:
        """The run enqueued on ``queue`` under idempotency ``key``, if any."""
        if key is None:
            return None
        found = self._edge.get("runs", queue_pk(queue), key, "reading an idempotency key")
        return None if found is None else self.get_run(str(found["RunId"]))

    def get_run(self, run_id: str) -> Run:
        found = self._run_entity(self._queue_of(run_id), run_id)
        if found is None:
            raise missing_run(run_id)
        return run_from(found)

    def _queue_of(self, run_id: str) -> str:
        known = self._edge.get("runindex", run_id, _INDEX_ROW, "reading a run's queue")
        if known is None:
            raise missing_run(run_id)
        return str(known["Queue"])

    def _run_entity(self, queue: str, run_id: str) -> Entity | None:
        return self._edge.get("runs", queue_pk(queue), f"{RUN_PREFIX}{run_id}", "reading a run")

    def list_runs(
        self,
        queue: str | None = None,
        states: Iterable[RunState] | None = None,
        limit: int = 1000,
    ) -> list[Run]:
        first, after = prefix_range(RUN_PREFIX)
        where, params = "RowKey ge @first and RowKey lt @after", {"first": first, "after": after}
        if queue is not None:
            where, params = f"PartitionKey eq @pk and {where}", {**params, "pk": queue_pk(queue)}
        if states is not None:
            wanted = sorted({RunState(state).value for state in states})
            if not wanted:
                return []
            params.update((f"s{index}", state) for index, state in enumerate(wanted))
            where += " and (" + " or ".join(f"State eq @s{index}" for index in range(len(wanted))) + " )"
        found = self._edge.query("runs", where, params, "listing runs")
        found.sort(key=lambda entity: (str(entity["Seq"]), str(entity["RowKey"])), reverse=True)
        return [run_from(entity) for entity in found[:limit]]

    def position(self, run: Run) -> int | None:
        found = self._run_entity(run.queue, run.id)
        if found is None or found["State"] != RunState.QUEUED.value:
            return None
        current = run_from(found)
        ahead = self._line(run.queue, upto=line_row(int(current.priority), current.seq))
        return len(ahead)

    def positions(self, runs: Iterable[Run]) -> dict[str, int]:
        wanted = {run.id: run.queue for run in runs}
        places: dict[str, int] = {}
        for queue in set(wanted.values()):
            ids = [str(entry["RunId"]) for entry in self._line(queue)]
            places.update((run_id, place) for place, run_id in enumerate(ids, 1) if run_id in wanted)
        return places

    def _line(self, queue: str, upto: str | None = None) -> list[Entity]:
        """The queue's line entries in order (up to and including the RowKey ``upto``)."""
        first, after = prefix_range(LINE_PREFIX)
        where, params = _RANGE, {"pk": queue_pk(queue), "first": first, "after": after}
        if upto is not None:
            where, params = f"{where} and RowKey le @upto", {**params, "upto": upto}
        return self._edge.query("runs", where, params, "reading a queue's line", select=["RowKey", "RunId"])

    def count_active(self, queue: str) -> int:
        return self._moves.count(queue)[0]

    def count_queued(self, queue: str) -> int:
        return len(self._line(queue))

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
        move = (expected, to, reason, now)
        return self._moves.transition(self._queue_of(run_id), run_id, move, update, expected_version)

    def renew_lease(self, run_id: str, version: int, lease_until: datetime) -> Run:
        return self._moves.renew_lease(self._queue_of(run_id), run_id, version, lease_until)

    def save_log_tail(self, run_id: str, tail: LogTail) -> None:
        self.get_run(run_id)
        entity = {**keys(run_id, _TAIL_ROW), **packed(tail.model_dump_json(), "tail")}
        self._edge.upsert("tails", entity, "saving a log tail")

    def log_tail(self, run_id: str) -> LogTail | None:
        self.get_run(run_id)
        found = self._edge.get("tails", run_id, _TAIL_ROW, "reading a log tail")
        return None if found is None else LogTail.model_validate_json(unpacked(found))

    def events(self, run_id: str) -> list[RunEvent]:
        run = self.get_run(run_id)
        first, after = event_range(run_id)
        params = {"pk": queue_pk(run.queue), "first": first, "after": after}
        return [event_from(entity) for entity in self._edge.query("runs", _RANGE, params, "reading events")]


def _queue_fields(queue: Queue) -> dict[str, Any]:
    return {
        **keys(queue_pk(queue.name), QUEUE_ROW),
        "Name": queue.name,
        "Version": queue.version,
        **packed(queue.model_dump_json(), "config"),
    }


def _key_row(idempotency_key: str) -> str:
    return KEY_PREFIX + hashlib.sha256(idempotency_key.encode()).hexdigest()


def _taken(name: str) -> AlreadyExists:
    return AlreadyExists(f"queue {name!r} already exists", field="name")
