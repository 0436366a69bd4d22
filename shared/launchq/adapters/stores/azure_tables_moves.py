"""The Azure Tables store's moves: the claim, transitions and lease renewals.

Every move reads what it changes (with ETags) and commits one entity group transaction in
the run's queue partition, each write conditional on the ETag it was read with:

* claim: read the head of the line (a few entries: its line entry carries a copy of the
  run, so nothing else is read), then delete the entry on its ETag, write the run claimed,
  raise the queue's running count and create the event of the new version;
* transition: replace the run on its ETag, create its event, and as the states require
  delete or put back its line entry and lower or raise the running count;
* renewal: replace the run with its new lease on its ETag (no version bump, no event).

The running count is a sum of shard entities (``slots``, ``slots-1`` ... ``slots-7``), read
together by one range query. A limited queue's claims all raise shard ``slots`` on the ETag
they read: of two claimers that saw the same count only one commits, so ``max_jobs`` is
never exceeded (a release lowering another shard meanwhile only makes the count smaller).
An unlimited queue's claims, and every release, move a random shard, so they rarely wait on
each other; a shard may go below zero, only the sum is a count.

A transaction that loses (412: an entity moved; 409: the event exists; 404: the line entry
went) commits nothing and the move starts again from the read, which then raises the
StaleWrite the port documents when the run moved away. After ``ATTEMPTS`` lost rounds the
caller gets BackendUnavailable (safe to retry), as on the other stores.

A claim that lost its line entry (op 1 of its transaction: another claimer took that run)
tries the next entry it read, which is now the head; any other loss reads line and count
again, so a claim never passes over a run that is still waiting.

Throughput: a limited queue's claims are serialised on shard ``slots``: at a round trip of
~5-10 ms inside an Azure region, on the order of 100 claims a second per queue, far more
than its ``max_jobs`` slots can use, and under a partition's documented 2,000 entities a
second. Claims of an unlimited queue contend only for the head of the line; enqueues
condition on the queue entity and do not contend with claims.
"""

from __future__ import annotations

import random
import time
from datetime import datetime
from typing import TYPE_CHECKING

from launchq.adapters.stores import common
from launchq.adapters.stores.azure_tables_edge import Op, etag
from launchq.adapters.stores.azure_tables_entities import (
    COUNT_SHARDS,
    LINE_PREFIX,
    SLOTS_ROW,
    Entity,
    count_row,
    event_entity,
    line_entity,
    line_row,
    prefix_range,
    queue_pk,
    run_entity,
    run_from,
    run_row,
)
from launchq.domain.models import Queue, Run, RunEvent, RunUpdate
from launchq.domain.states import RunState
from launchq.errors import BackendUnavailable, NotFound, StaleWrite

if TYPE_CHECKING:
    from launchq.adapters.stores.azure_tables_edge import TablesEdge

#: Rounds a move may lose to other writers before it gives up (BackendUnavailable).
ATTEMPTS = 40
#: Line entries a claim reads at once: after losing the head, it tries the next one.
CLAIM_WINDOW = 4
#: Where a claim's transaction deletes the line entry (the count's write is op 0).
_ENTRY_OP = 1

_HEAD = "PartitionKey eq @pk and RowKey ge @first and RowKey lt @after"


def missing_run(run_id: str) -> NotFound:
    return NotFound(f"run {run_id!r} does not exist", field="run")


def backoff(attempt: int) -> None:
    """A short random pause after a lost round, growing with the rounds lost (spreads racers)."""
    time.sleep(random.uniform(0, min(0.002 * 2**attempt, 0.1)))  # noqa: S311 - jitter only


class TablesMoves:
    """The conditional writes of runs (see the module doc)."""

    def __init__(self, edge: TablesEdge) -> None:
        self._edge = edge

    def read_run(self, queue: str, run_id: str) -> Entity:
        """The run's entity as it is now. Raises NotFound (field ``run``)."""
        found = self._edge.get("runs", queue_pk(queue), run_row(run_id), "reading a run")
        if found is None:
            raise missing_run(run_id)
        return found

    def count(self, queue: str) -> tuple[int, dict[int, Entity]]:
        """The queue's running count (the sum of its shards) and its shard entities by number
        (a shard no run has touched yet is absent)."""
        first, after = SLOTS_ROW, SLOTS_ROW + "."
        params = {"pk": queue_pk(queue), "first": first, "after": after}
        found = self._edge.query("runs", _HEAD, params, "reading a queue's running count")
        shards = {_shard_of(str(entity["RowKey"])): entity for entity in found}
        return max(sum(int(entity["Active"]) for entity in shards.values()), 0), shards

    def claim(self, queue: Queue, now: datetime, lease_until: datetime, claimer: str) -> Run | None:
        """``RunStore.claim`` on a queue already read: the head first; a lost round tries the
        next of the few entries read (another claimer took the head), then reads again."""
        first, after = prefix_range(LINE_PREFIX)
        params = {"pk": queue_pk(queue.name), "first": first, "after": after}
        action = f"claiming from queue {queue.name!r}"
        window: list[Entity] = []
        for lost in range(ATTEMPTS):
            window = window or self._edge.head("runs", _HEAD, params, CLAIM_WINDOW, action)
            if not window:
                return None
            active, shards = self.count(queue.name)
            if not queue.has_free_slot(active):
                return None
            run, failed = self._claim_entry(queue, window[0], shards, (now, lease_until, claimer))
            if run is not None:
                return run
            if failed == _ENTRY_OP:  # another claimer took it: the next one read is the head now
                window.pop(0)
            else:  # the count moved, or Azure did not say which op lost: read both again
                window = []
                backoff(lost)
        raise BackendUnavailable(f"claims on queue {queue.name!r} kept losing to other claimers; retry")

    def _claim_entry(
        self, queue: Queue, entry: Entity, shards: dict[int, Entity], claim: tuple[datetime, datetime, str]
    ) -> tuple[Run | None, int | None]:
        """One claim transaction of line ``entry``: (the run, None) or (None, the op that lost)."""
        now, lease_until, claimer = claim
        run, event = common.claimed(run_from(entry), now, lease_until, claimer)
        shard = 0 if queue.max_jobs != -1 else random.randrange(COUNT_SHARDS)  # noqa: S311 - spreads writers
        ops = [
            self._count_op(queue.name, shard, shards.get(shard), +1),
            self._edge.delete_op(str(entry["PartitionKey"]), str(entry["RowKey"]), etag(entry)),
            self._edge.upsert_op(run_entity(run)),
            self._edge.create_op(event_entity(run.queue, event, run.version)),
        ]
        failed = self._edge.transact_at("runs", ops, f"claiming from queue {queue.name!r}")
        return (run, None) if failed is None else (None, failed)

    def transition(
        self,
        queue: str,
        run_id: str,
        move: tuple[RunState, RunState, str, datetime],
        update: RunUpdate | None,
        expected_version: int | None,
    ) -> Run:
        """``RunStore.transition`` of a run of ``queue``: ``move`` is (expected, to, reason, now)."""
        expected, to, reason, now = move
        common.ensure_allowed(expected, to)
        for attempt in range(ATTEMPTS):
            found = self.read_run(queue, run_id)
            before = run_from(found)
            run, event = common.transitioned(
                before,
                expected,
                to,
                reason=reason,
                now=now,
                update=update,
                deep=False,
                expected_version=expected_version,
            )
            ops = [*self._write_ops(run, event, found), *self._line_ops(before, run)]
            ops += self._count_ops(before, run)
            if self._edge.transact("runs", ops, f"moving run {run_id}"):
                return run
            backoff(attempt)
        raise BackendUnavailable(f"moves of run {run_id} kept losing to other writers; retry")

    def renew_lease(self, queue: str, run_id: str, version: int, lease_until: datetime) -> Run:
        """``RunStore.renew_lease``: the run rewritten with its lease, on its ETag."""
        for attempt in range(ATTEMPTS):
            found = self.read_run(queue, run_id)
            run = common.renewed(run_from(found), version, lease_until)
            try:
                self._edge.replace(
                    "runs", run_entity(run), etag(found), f"renewing the lease of run {run_id}"
                )
            except (StaleWrite, NotFound):
                backoff(attempt)
                continue
            return run
        raise BackendUnavailable(f"renewals of run {run_id} kept losing to other writers; retry")

    def _write_ops(self, run: Run, event: RunEvent, found: Entity) -> list[Op]:
        """The run replaced on the ETag it was read with, and its new version's event created."""
        return [
            self._edge.replace_op(run_entity(run), etag(found)),
            self._edge.create_op(event_entity(run.queue, event, run.version)),
        ]

    def _line_ops(self, before: Run, after: Run) -> list[Op]:
        """Leaving the line deletes the run's entry; coming back (preempted, replayed, a lease
        that ran out) puts it back at its own place: same priority, same seq."""
        was, now = before.state == RunState.QUEUED, after.state == RunState.QUEUED
        if was and not now:
            return [self._edge.delete_op(queue_pk(before.queue), line_row(int(before.priority), before.seq))]
        if now and not was:
            return [self._edge.upsert_op(line_entity(after))]
        return []

    def _count_ops(self, before: Run, after: Run) -> list[Op]:
        """The running count raised or lowered (on a random shard) when the run takes or gives
        back a slot."""
        change = int(after.state.active) - int(before.state.active)
        if not change:
            return []
        shards = self.count(after.queue)[1]
        shard = random.randrange(COUNT_SHARDS)  # noqa: S311 - spreads writers, not a secret
        return [self._count_op(after.queue, shard, shards.get(shard), change)]

    def _count_op(self, queue: str, shard: int, found: Entity | None, change: int) -> Op:
        """Move one shard of the count by ``change`` on the ETag it was read with (created
        when no run touched it yet). A shard may go below zero: only the sum is a count."""
        current = 0 if found is None else int(found["Active"])
        fields = {"PartitionKey": queue_pk(queue), "RowKey": count_row(shard), "Active": current + change}
        return self._edge.create_op(fields) if found is None else self._edge.merge_op(fields, etag(found))


def _shard_of(row: str) -> int:
    return 0 if row == SLOTS_ROW else int(row.rsplit("-", 1)[1])
