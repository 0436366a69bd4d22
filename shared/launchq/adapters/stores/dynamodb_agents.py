"""The agents' part of the DynamoDB store: lease renewals and shipped log tails.

A renewal is one conditional ``UpdateItem`` of the run item's ``body`` on the state and
version it was read in: no version bump and no event, so it neither lengthens the run's
history nor makes the agent's next report stale, and the ``by_queue_state`` index is not
written (its key does not change).

A shipped log tail is an item of its own next to the run, ``RUN#<id>`` / ``LOG``, with the
text zlib-compressed in a binary attribute: a run item is rewritten at every move, so a
tail kept on it would make every move of every run cost its size; logs compress several
times over, and DynamoDB bills binary values by their raw bytes. Runs are never deleted,
so a strongly consistent read of the run before the write is enough to refuse a tail for
a run that does not exist.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from launchq.adapters.stores import common
from launchq.adapters.stores import dynamodb_items as items
from launchq.adapters.stores.dynamodb_items import n, s
from launchq.adapters.stores.dynamodb_table import ConditionFailed
from launchq.errors import NotFound, StaleWrite
from launchq.port_values import LogTail

if TYPE_CHECKING:
    from datetime import datetime

    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    from launchq.adapters.stores.dynamodb_table import DynamoTable
    from launchq.domain.models import Run

    Item = dict[str, AttributeValueTypeDef]

LOG_SK = "LOG"


def log_key(run_id: str) -> Item:
    return items.key(items.run_pk(run_id), LOG_SK)


def log_item(run_id: str, tail: LogTail) -> Item:
    """The tail's item: its text as compressed UTF-8 (``tx``) and its ``end``."""
    return {**log_key(run_id), "tx": {"B": zlib.compress(tail.text.encode())}, "end": n(tail.end)}


def log_from(item: Item) -> LogTail:
    return LogTail(text=zlib.decompress(item["tx"]["B"]).decode(), end=items.number(item, "end"))


def lease_lost(run_id: str, version: int, now: Item | None) -> NotFound | StaleWrite:
    """The error of a renewal whose condition failed: the run as it is ``now`` (None: absent)."""
    if now is None:
        return NotFound(f"run {run_id!r} does not exist", field="run")
    state, current = items.text(now, "state"), items.number(now, "version")
    return StaleWrite(
        f"run {run_id} moved on while renewing its lease at version {version} (now {state},"
        f" version {current})",
        field="version",
    )


class DynamoAgentRuns:
    """The ``RunStore`` methods agents need beyond moves, on the store's table (``_db``)."""

    _db: DynamoTable

    if TYPE_CHECKING:

        def _run_and_item(self, run_id: str) -> tuple[Run, Item]: ...

    def renew_lease(self, run_id: str, version: int, lease_until: datetime) -> Run:
        current, _ = self._run_and_item(run_id)
        renewed = common.renewed(current, version, lease_until)
        try:
            self._db.update(
                items.run_key(run_id),
                "SET body = :body",
                {":body": s(items.run_body(renewed)), **items.unchanged(current)},
                condition=items.RUN_UNCHANGED,
                names=items.RUN_NAMES,
            )
        except ConditionFailed as exc:
            raise lease_lost(run_id, version, exc.item) from exc
        return renewed

    def save_log_tail(self, run_id: str, tail: LogTail) -> None:
        self._run_and_item(run_id)
        self._db.put(log_item(run_id, tail), f"{items.EXISTS} OR {items.ABSENT}")

    def log_tail(self, run_id: str) -> LogTail | None:
        found = self._db.get(log_key(run_id))
        if found is not None:
            return log_from(found)
        self._run_and_item(run_id)  # NotFound for a run that does not exist
        return None
