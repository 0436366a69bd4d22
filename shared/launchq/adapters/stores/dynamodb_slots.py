"""The slots of a limited queue (``max_jobs`` >= 1) on DynamoDB, without a transaction per claim.

A queue's slots are one small item (``SLOTS``/``<queue>``): ``room``, how many runs may hold
a slot (``max_jobs``, less the active runs the earlier layout counted on the queue item), and
``m``, a map from each holder's run id to its *token*, the run's version when it was
claimed. The run item keeps the same token (``sl``).

* A claim first takes a slot: ``SET m.<run> = <token>`` on condition that the map has room
  (or the run is already in it), then moves the run queued -> claimed on condition that it
  is still queued at the version it was read in. Two single-item writes, one unit each
  (a transaction of the two would cost four). If the run write fails, the slot is not given
  back: either another claimer of the same run won and holds it under the same token, or
  the run moved on and the slot is stale (below).
* A run leaving the active states is written first, then its slot is released:
  ``REMOVE m.<run>`` on condition that it still holds this token (a run replayed and claimed
  again meanwhile holds a new one).
* A crash between the two writes leaves a *stale* holder: a run that is not active. A claim
  that finds no room looks at the holders' runs and removes each stale one in a transaction
  that also checks the run is still where it was seen; a holder whose run is still queued
  (its claimer crashed, or has not yet written it) is *fenced*: the same transaction bumps
  the queued run's version, so a claimer still on its way fails its conditional write
  instead of taking a run whose slot was just given away. Active runs are never removed.

So no more than ``room`` runs are ever active, every run holds its slot while it is active,
and slots leak only until the next claim that needs one. The map grows with the queue's
active runs (about 40 bytes each): up to about 25 holders the item stays under 1 KB, one
write unit per claim and per release. Unlimited queues (``max_jobs`` -1) have no slots.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from launchq.adapters.stores import dynamodb_items as items
from launchq.adapters.stores.dynamodb_items import n, number, text
from launchq.adapters.stores.dynamodb_table import Cancelled, ConditionFailed
from launchq.domain.states import ACTIVE, RunState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

    from launchq.adapters.stores.dynamodb_table import DynamoTable
    from launchq.adapters.stores.dynamodb_writes import TransactionItems

    Item = dict[str, AttributeValueTypeDef]

HAS_ROOM = "attribute_exists(PK) AND (size(m) < room OR attribute_exists(m.#run))"


def holder_names(run_id: str) -> dict[str, str]:
    return {"#run": run_id}


def slots_item(queue: str, room: int) -> Item:
    return {**items.slots_key(queue), "room": n(room), "m": {"M": {}}}


def holders(slots: Item) -> dict[str, int]:
    """Run id -> token of every holder."""
    return {run_id: int(token["N"]) for run_id, token in slots.get("m", {}).get("M", {}).items()}


def is_full(slots: Item) -> bool:
    return len(holders(slots)) >= number(slots, "room")


class Slots:
    """The slot items of one table (see the module docstring)."""

    def __init__(self, db: DynamoTable, tx: TransactionItems) -> None:
        self._db = db
        self._tx = tx

    def read(self, queue: str, room: int) -> Item:
        """The queue's slots, made with ``room`` if the queue has none yet (a queue of the
        earlier layout, limited before this layout)."""
        found = self._db.get(items.slots_key(queue))
        if found is not None:
            return found
        try:
            self._db.put(slots_item(queue, room), items.ABSENT)
        except ConditionFailed as exc:  # made meanwhile by another claimer
            return exc.item or slots_item(queue, room)
        return slots_item(queue, room)

    def take(self, queue: str, run_id: str, token: int) -> bool:
        """Give ``run_id`` a slot under ``token``; False when there is no room."""
        try:
            self._db.update(
                items.slots_key(queue),
                "SET m.#run = :token",
                {":token": n(token)},
                condition=HAS_ROOM,
                names=holder_names(run_id),
            )
        except ConditionFailed:
            return False
        return True

    def hold(self, queue: str, run_id: str, token: int) -> None:
        """Give ``run_id`` a slot whatever the room (a queue without slots item gets none)."""
        with contextlib.suppress(ConditionFailed):
            self._db.update(
                items.slots_key(queue),
                "SET m.#run = :token",
                {":token": n(token)},
                condition="attribute_exists(PK)",
                names=holder_names(run_id),
            )

    def take_in_transaction(self, queue: str, run_id: str, token: int) -> TransactWriteItemTypeDef:
        """``take`` as a transaction entry (for a run of the earlier layout, claimed with its entry)."""
        return self._tx.update(
            items.slots_key(queue),
            "SET m.#run = :token",
            HAS_ROOM,
            {":token": n(token)},
            holder_names(run_id),
        )

    def release(self, queue: str, run_id: str, token: int) -> None:
        """Free the slot ``run_id`` holds under ``token`` (nothing if it holds none, or another)."""
        with contextlib.suppress(ConditionFailed):
            self._db.update(
                items.slots_key(queue),
                "REMOVE m.#run",
                {":token": n(token)},
                condition="m.#run = :token",
                names=holder_names(run_id),
            )

    def repair(self, queue: str, slots: Item) -> bool:
        """Remove the stale holders of a full queue; whether any slot was freed."""
        held = holders(slots)
        runs = {
            items.run_id_from_index(item): item
            for item in self._db.batch_get([items.run_key(run_id) for run_id in held])
        }
        freed = False
        for run_id, token in held.items():
            run = runs.get(run_id)
            if run is not None and RunState(text(run, "state")) in ACTIVE:
                continue  # holding its slot: never taken away
            freed |= self._remove(queue, run_id, token, run)
        return freed

    def _remove(self, queue: str, run_id: str, token: int, run: Item | None) -> bool:
        release = self._tx.update(
            items.slots_key(queue),
            "REMOVE m.#run",
            "m.#run = :token",
            {":token": n(token)},
            holder_names(run_id),
        )
        if run is None:
            entries = [release]
        elif text(run, "state") == RunState.QUEUED.value:
            queued = items.run_from(run)
            fenced = queued.model_copy(update={"version": queued.version + 1})
            entries = [self._tx.put_run(items.moved_item(fenced, None, run), queued), release]
        else:
            entries = [self._tx.run_unchanged(items.run_from(run)), release]
        try:
            self._db.transact(entries)
        except Cancelled:
            return False  # the run or the slot moved on: look again at the next claim
        return True
