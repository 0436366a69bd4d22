"""A queue's line on DynamoDB: its head, its length and places in it.

The line is the queue's ``QUEUE#<queue>#Q#<priority>`` partitions of the ``by_queue_state``
index, each sorted by ``seq``: priority first, then enqueue order. Runs of the earlier
layout still waiting wait as ``PENDING#<priority>#<seq>`` entries in the table (only while
the queue item counts some: ``queued``), and are taken in at their place.
"""

from __future__ import annotations

from itertools import islice
from typing import TYPE_CHECKING

from launchq.adapters.stores import dynamodb_items as items
from launchq.adapters.stores.dynamodb_items import BY_QUEUE_STATE, PRIORITIES, n, s

if TYPE_CHECKING:
    from collections.abc import Iterable

    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    from launchq.adapters.stores.dynamodb_table import DynamoTable
    from launchq.domain.models import Run

    Item = dict[str, AttributeValueTypeDef]

#: One waiting run: (priority, seq, run id, written by the earlier layout).
Entry = tuple[int, int, str, bool]

_IN_PARTITION = f"{BY_QUEUE_STATE} = :p"
_UP_TO = f"{BY_QUEUE_STATE} = :p AND seq <= :seq"


def _old_entry(item: Item) -> Entry:
    _, priority, seq = items.text(item, "SK").split("#")
    return int(priority), int(seq), items.text(item, "run_id"), True


class Line:
    """Reads of the queues' lines (index reads are eventually consistent on AWS)."""

    def __init__(self, db: DynamoTable) -> None:
        self._db = db

    def heads(self, queue: str, window: int, *, old: bool) -> list[Entry]:
        """The first ``window`` runs in line (taking in the earlier layout's when ``old``)."""
        found: list[Entry] = []
        for priority in PRIORITIES:
            partition = s(items.line_partition(queue, priority))
            page = self._db.query(_IN_PARTITION, {":p": partition}, index=BY_QUEUE_STATE, page_size=window)
            found += [(priority, *items.seq_from_index(item), False) for item in islice(page, window)]
            if found:
                break
        if old:
            page = self._db.query(
                "PK = :pk AND begins_with(SK, :pending)",
                {":pk": s(items.line_pk(queue)), ":pending": s(items.PENDING_PREFIX)},
                page_size=window,
            )
            found += [_old_entry(item) for item in islice(page, window)]
        return sorted(found)[:window]

    def length(self, queue: str) -> int:
        """Runs of this layout in the queue's line."""
        return sum(
            self._db.count(_IN_PARTITION, {":p": s(items.line_partition(queue, p))}, index=BY_QUEUE_STATE)
            for p in PRIORITIES
        )

    def place(self, run: Run) -> int:
        """1-based place of the queued ``run``: the runs of higher priority, those of its own
        enqueued up to it, and the earlier layout's entries up to its place."""
        ahead = sum(
            self._db.count(_IN_PARTITION, {":p": s(items.line_partition(run.queue, p))}, index=BY_QUEUE_STATE)
            for p in PRIORITIES
            if p < int(run.priority)
        )
        own = {":p": s(items.line_partition(run.queue, int(run.priority))), ":seq": n(run.seq)}
        ahead += self._db.count(_UP_TO, own, index=BY_QUEUE_STATE)
        return ahead + self._db.count(
            "PK = :pk AND SK BETWEEN :first AND :own",
            {
                ":pk": s(items.line_pk(run.queue)),
                ":first": s(items.PENDING_PREFIX),
                ":own": s(items.pending_sk(run)),
            },
        )

    def places(self, runs: Iterable[Run]) -> dict[str, int]:
        """The places of those of ``runs`` in line now: each queue's line read once, up to
        the last run asked about."""
        asked = {run.id: run for run in runs}
        last: dict[str, tuple[int, int]] = {}
        for run in asked.values():
            last[run.queue] = max(last.get(run.queue, (-1, -1)), (int(run.priority), run.seq))
        places: dict[str, int] = {}
        for queue, (top, bound) in last.items():
            line = sorted(self._up_to(queue, top, bound))
            places.update(
                (run_id, place) for place, (_, _, run_id, _) in enumerate(line, 1) if run_id in asked
            )
        return places

    def _up_to(self, queue: str, top: int, bound: int) -> list[Entry]:
        found: list[Entry] = []
        for priority in (p for p in PRIORITIES if p <= top):
            values = {":p": s(items.line_partition(queue, priority))}
            condition = _IN_PARTITION
            if priority == top:
                values[":seq"] = n(bound)
                condition = _UP_TO
            page = self._db.query(condition, values, index=BY_QUEUE_STATE)
            found += [(priority, *items.seq_from_index(item), False) for item in page]
        old = self._db.query(
            "PK = :pk AND SK BETWEEN :first AND :last",
            {
                ":pk": s(items.line_pk(queue)),
                ":first": s(items.PENDING_PREFIX),
                ":last": s(f"{items.PENDING_PREFIX}{top}#{bound:020d}"),
            },
        )
        return found + [_old_entry(item) for item in old]
