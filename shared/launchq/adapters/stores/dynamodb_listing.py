"""Listing runs on DynamoDB: newest first, from the index partitions that may hold them.

A partition of ``by_queue_state`` may hold several states (``ACTIVE``), and a listing by
state over every queue reads each queue's partitions plus the earlier layout's cross-queue
ones (``by_state``, ``all_runs``); the partitions are read newest first and merged, the runs
fetched with a consistent ``BatchGetItem`` and kept only if they match the filters now.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from launchq.adapters.stores import dynamodb_items as items
from launchq.adapters.stores.dynamodb_items import s
from launchq.adapters.stores.dynamodb_table import BATCH_GET_MAX

if TYPE_CHECKING:
    from collections.abc import Iterator

    from launchq.adapters.stores.dynamodb_table import DynamoTable
    from launchq.domain.models import Run
    from launchq.domain.states import RunState


class Listing:
    """``list_runs`` of the DynamoDB store."""

    def __init__(self, db: DynamoTable) -> None:
        self._db = db

    def runs(
        self, queue: str | None, wanted: list[RunState] | None, limit: int, queues: list[str]
    ) -> list[Run]:
        """Runs of ``queue`` (None: of ``queues``, every queue) in ``wanted`` states (None: any)."""
        if wanted is None:
            partitions = items.every_partition(queues)
        else:
            partitions = set().union(*(items.index_partitions(queues, state) for state in wanted))
        if queue is None:  # the earlier layout's cross-queue partitions (runs of deleted queues too)
            old = [(items.ALL_RUNS_INDEX, items.ALL_RUNS)] if wanted is None else []
            partitions.update(old or [(items.BY_STATE, f"STATE#{state.value}") for state in wanted or []])
        newest = heapq.merge(*(self._index_ids(*partition, limit) for partition in partitions), reverse=True)
        found: list[Run] = []
        for chunk in items.batched(items.unique(run_id for _, run_id in newest), BATCH_GET_MAX):
            runs = {
                run.id: run
                for run in map(items.run_from, self._db.batch_get([items.run_key(i) for i in chunk]))
            }
            # A partition holds several states, and an index lags its table on AWS: keep
            # only the runs that match the filters now.
            found += [
                run
                for run in (runs[run_id] for run_id in chunk if run_id in runs)
                if (queue is None or run.queue == queue) and (wanted is None or run.state in wanted)
            ]
            if len(found) >= limit:
                break
        return found[:limit]

    def _index_ids(self, index: str, partition: str, limit: int) -> Iterator[tuple[int, str]]:
        """(seq, run id) of one index partition, newest first."""
        found = self._db.query(
            f"{index} = :p", {":p": s(partition)}, index=index, forward=False, page_size=limit
        )
        for item in found:
            yield items.seq_from_index(item)
