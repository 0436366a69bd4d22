"""The ``RunStore`` queue methods of ``DynamoRunStore``: a queue is one item (``dynamodb_items``)
and, when it has a ``max_jobs``, one slots item (``dynamodb_slots``) written in the same
transaction, so a queue never exists without the room its limit gives."""

from __future__ import annotations

from typing import TYPE_CHECKING

from launchq.adapters.stores import dynamodb_items as items
from launchq.adapters.stores.dynamodb_items import ABSENT, EXISTS, n, s
from launchq.adapters.stores.dynamodb_slots import slots_item
from launchq.adapters.stores.dynamodb_table import Cancelled, ConditionFailed, DynamoTable
from launchq.adapters.stores.dynamodb_writes import TransactionItems
from launchq.domain.models import Queue
from launchq.domain.states import ACTIVE
from launchq.errors import AlreadyExists, Conflict, NotFound, StaleWrite
from launchq.ports import RunStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

    Item = dict[str, AttributeValueTypeDef]

__all__ = ["DynamoQueues"]


class DynamoQueues(RunStore):
    """Queue create/read/update/delete on the store's table (``_db``, ``_tx``)."""

    _db: DynamoTable
    _tx: TransactionItems

    def _queue_item(self, name: str) -> Item:
        item = self._db.get(items.queue_key(name))
        if item is None:
            raise NotFound(f"queue {name!r} does not exist", field="queue")
        return item

    def create_queue(self, queue: Queue) -> None:
        room = max(queue.max_jobs, 0)
        try:
            self._db.transact(
                [
                    self._tx.put(items.queue_item(queue), ABSENT),
                    self._tx.put(items.queue_name_key(queue.name)),
                    self._tx.put(slots_item(queue.name, room)),
                ]
            )
        except Cancelled as exc:
            raise AlreadyExists(f"queue {queue.name!r} already exists", field="name") from exc

    def get_queue(self, name: str) -> Queue:
        return items.queue_from(self._queue_item(name))

    def list_queues(self) -> list[Queue]:
        found = self._db.query("PK = :pk", {":pk": s(items.QUEUES_PK)})
        return [items.queue_from(item) for item in found]

    def update_queue(self, queue: Queue) -> Queue:
        before = items.queue_from(self._queue_item(queue.name))
        stored = queue.model_copy(update={"version": queue.version + 1}, deep=True)
        entries = [
            self._tx.update(
                items.queue_key(queue.name),
                "SET body = :body, #version = :new, max_jobs = :max_jobs",
                f"{EXISTS} AND #version = :old",
                {
                    ":body": s(stored.model_dump_json()),
                    ":new": n(stored.version),
                    ":max_jobs": n(stored.max_jobs),
                    ":old": n(queue.version),
                },
                {"#version": "version"},
            ),
            *self._resize_slots(queue.name, before.max_jobs, stored.max_jobs),
        ]
        try:
            self._db.transact(entries)
        except Cancelled as exc:
            current = exc.item(0)
            if current is None:
                raise NotFound(f"queue {queue.name!r} does not exist", field="queue") from exc
            raise StaleWrite(
                f"queue {queue.name!r} is at version {items.number(current, 'version')}, not {queue.version}",
                field="version",
            ) from exc
        return stored

    def _resize_slots(self, queue: str, before: int, after: int) -> list[TransactWriteItemTypeDef]:
        """The slots' part of a change of ``max_jobs``: more or less room; on a queue that
        was unlimited, room for ``after`` with its active runs as holders. A queue of the
        earlier layout without slots gets them at its next claim."""
        if after in (-1, before):
            return []
        if before != -1:
            if self._db.get(items.slots_key(queue)) is None:
                return []
            return [
                self._tx.update(
                    items.slots_key(queue), "ADD room :delta", EXISTS, {":delta": n(after - before)}
                )
            ]
        holding = self.list_runs(queue=queue, states=ACTIVE, limit=10_000)
        slots = slots_item(queue, after - self._old_count(queue, "active"))
        slots["m"] = {"M": {run.id: n(run.version) for run in holding}}
        return [self._tx.put(slots)]

    def delete_queue(self, name: str) -> None:
        self._queue_item(name)
        blocking = self.count_active(name) + self.count_queued(name)
        if blocking:
            raise Conflict(f"queue {name!r} still holds {blocking} queued or active runs", field="name")
        try:
            self._db.delete(
                items.queue_key(name), f"{EXISTS} AND active = :zero AND queued = :zero", {":zero": n(0)}
            )
        except ConditionFailed as exc:
            if exc.item is None:
                raise NotFound(f"queue {name!r} does not exist", field="queue") from exc
            raise Conflict(f"queue {name!r} still holds queued or active runs", field="name") from exc
        self._db.delete(items.slots_key(name), "attribute_exists(PK) OR attribute_not_exists(PK)")

    def _old_count(self, queue: str, name: str) -> int:
        """The earlier layout's runs of ``queue`` counted on its queue item (``active``/``queued``)."""
        item = self._db.get(items.queue_key(queue))
        return 0 if item is None else items.number(item, name)
