"""The DynamoDB store's single-table layout: keys, items, and the table definition.

One table, string keys ``PK``/``SK``; every record is kept as its pydantic JSON in ``body``
with copies of the fields that keys and conditions need next to it.

============================  =====================  ================================
record                        PK                     SK
============================  =====================  ================================
queue (+ the earlier layout's ``QUEUES``             ``<queue>``
``active``/``queued`` counts)
queue name, ever created      ``QUEUE_NAMES``        ``<queue>``
a limited queue's slots       ``SLOTS``              ``<queue>`` (see ``dynamodb_slots``)
idempotency key (-> run id)   ``QUEUE#<queue>``      ``IDEM#<key>``
run (+ its events)            ``RUN#<id>``           ``RUN``
its shipped log tail          ``RUN#<id>``           ``LOG`` (see ``dynamodb_agents``)
schedule                      ``SCHEDULES``          ``<name>``
launch job: head, version     ``JOBS``, ``JOB#<n>``  ``<name>``, ``V#<version>`` (``dynamodb_jobs``)
============================  =====================  ================================

A run is one item, and one run's life is about one item write per step. Its events are
a list ``ev`` on the item (one compact JSON array each), its body is stored without
default values, so a typical run stays under 1 KB (one write unit) all its life. Its
``seq`` is the enqueue time in microseconds (``next_seq``): no counter item is written.

Runs are found through one sparse, keys-only GSI, ``by_queue_state`` (sorted by ``seq``),
whose partition a run is in depends on its state:

* ``QUEUE#<queue>#Q#<priority>``  queued: the queue's line, one partition per priority
* ``QUEUE#<queue>#ACTIVE``        claimed, building, starting, running, stopping: moves
  between these states do not touch the index at all
* ``QUEUE#<queue>#STATE#<state>`` every other state (finished, failed, ...)

so a run's life writes the index three times: in line, active, done. The head of the line
is a ``Limit`` query on the first non-empty priority partition (O(log n) in depth); a
run's place in line is a count of the partitions ahead of it. Index reads are eventually
consistent on AWS (a run enqueued a moment ago may not be seen by a claim yet, or a run
just claimed still be seen: the claim's conditional write settles that); every write is
conditional on the run's state and version, read strongly consistently from the table.

The earlier layout (until 2026-11-30) is still read and moved: its runs carry a full
``body`` and the keys of ``by_queue``, ``all_runs`` and ``by_state``; their events are
``EVENT#<version>`` items; its queued runs wait as ``PENDING#<priority>#<seq>`` entries
under ``QUEUE#<queue>`` counted in the queue item's ``queued``; its active runs are counted
in the queue item's ``active``. Claims, listings and places in line take those in too,
and a run of the earlier layout moves to this one at its next transition (``oe`` then
marks that some of its events are items of their own). The table definition is unchanged.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING

from launchq.domain.models import Queue, Run, RunEvent, Schedule
from launchq.domain.priority import Priority
from launchq.domain.states import ACTIVE, RunState
from launchq.errors import NotFound, StaleWrite

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        CreateTableInputTypeDef,
    )

    Item = dict[str, AttributeValueTypeDef]

QUEUES_PK = "QUEUES"
QUEUE_NAMES_PK = "QUEUE_NAMES"
SLOTS_PK = "SLOTS"
SCHEDULES_PK = "SCHEDULES"
PENDING_PREFIX = "PENDING#"
EVENT_PREFIX = "EVENT#"
RUN_SK = "RUN"
ALL_RUNS = "RUNS"

PRIORITIES = tuple(int(priority) for priority in sorted(Priority))

BY_QUEUE = "by_queue"
BY_STATE = "by_state"
BY_QUEUE_STATE = "by_queue_state"
ALL_RUNS_INDEX = "all_runs"
INDEXES = (BY_QUEUE, BY_STATE, BY_QUEUE_STATE, ALL_RUNS_INDEX)

EXISTS = "attribute_exists(PK)"
ABSENT = "attribute_not_exists(PK)"
#: ``state`` and ``version`` are DynamoDB reserved words: expressions name them through these.
RUN_NAMES = {"#state": "state", "#version": "version"}
#: The condition of every run rewrite: the run is still in the state and version it was read in.
RUN_UNCHANGED = "#state = :expected AND #version = :version"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def text(item: Item, name: str) -> str:
    return item[name]["S"]


def number(item: Item, name: str) -> int:
    return int(item[name]["N"])


def key(pk: str, sk: str) -> Item:
    return {"PK": s(pk), "SK": s(sk)}


# -- keys ---------------------------------------------------------------------------------
def queue_key(name: str) -> Item:
    return key(QUEUES_PK, name)


def line_pk(queue: str) -> str:
    """The partition holding a queue's pending entries and idempotency keys."""
    return f"QUEUE#{queue}"


def pending_sk(run: Run) -> str:
    return f"{PENDING_PREFIX}{int(run.priority)}#{run.seq:020d}"


def pending_key(run: Run) -> Item:
    return key(line_pk(run.queue), pending_sk(run))


def idempotency_key(queue: str, idempotency: str) -> Item:
    return key(line_pk(queue), f"IDEM#{idempotency}")


def run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def run_key(run_id: str) -> Item:
    return key(run_pk(run_id), RUN_SK)


def schedule_key(name: str) -> Item:
    return key(SCHEDULES_PK, name)


def queue_name_key(name: str) -> Item:
    return key(QUEUE_NAMES_PK, name)


def slots_key(queue: str) -> Item:
    return key(SLOTS_PK, queue)


def line_partition(queue: str, priority: int) -> str:
    """The ``by_queue_state`` partition of the queue's queued runs of one priority."""
    return f"QUEUE#{queue}#Q#{priority}"


def state_partition(queue: str, state: RunState, priority: int = 0) -> str:
    """The ``by_queue_state`` partition a run of ``queue`` in ``state`` is listed in."""
    if state is RunState.QUEUED:
        return line_partition(queue, priority)
    return f"QUEUE#{queue}#ACTIVE" if state in ACTIVE else f"QUEUE#{queue}#STATE#{state.value}"


def old_state_partition(queue: str, state: RunState) -> str:
    """The earlier layout's ``by_queue_state`` partition (one per state)."""
    return f"QUEUE#{queue}#STATE#{state.value}"


def index_partitions(queues: list[str], state: RunState) -> set[tuple[str, str]]:
    """(index, partition) of every partition that may hold runs of ``queues`` in ``state``, this
    layout's and the earlier one's. A partition may hold runs of other states: callers filter."""
    found: set[tuple[str, str]] = set()
    for queue in queues:
        if state is RunState.QUEUED:
            found.update((BY_QUEUE_STATE, line_partition(queue, p)) for p in PRIORITIES)
        found.add((BY_QUEUE_STATE, state_partition(queue, state)))
        found.add((BY_QUEUE_STATE, old_state_partition(queue, state)))
    return found


def every_partition(queues: list[str]) -> set[tuple[str, str]]:
    """Every partition holding runs of ``queues``, in any state, of either layout."""
    found = {(BY_QUEUE, f"QUEUE#{queue}") for queue in queues}  # the earlier layout's
    for state in RunState:
        found |= index_partitions(queues, state)
    return found


# -- items --------------------------------------------------------------------------------
def queue_item(queue: Queue, *, active: int = 0, queued: int = 0) -> Item:
    return {
        **queue_key(queue.name),
        "body": s(queue.model_dump_json()),
        "version": n(queue.version),
        "max_jobs": n(queue.max_jobs),
        "active": n(active),
        "queued": n(queued),
    }


def queue_from(item: Item) -> Queue:
    return Queue.model_validate_json(text(item, "body"))


def run_item(run: Run, events: list[str], *, old_events: bool = False, slot: int | None = None) -> Item:
    """The run's item: its body without defaults, its history ``events`` (see ``event_entry``),
    its ``by_queue_state`` partition, ``oe`` when older events are items of their own, and
    ``sl``, the token of the slot it holds on a limited queue (see ``dynamodb_slots``)."""
    item: Item = {
        **run_key(run.id),
        "body": s(run_body(run)),
        "state": s(run.state.value),
        "version": n(run.version),
        "seq": n(run.seq),
        "ev": {"L": [s(entry) for entry in events]},
        BY_QUEUE_STATE: s(state_partition(run.queue, run.state, int(run.priority))),
    }
    if old_events:
        item["oe"] = n(1)
    if slot is not None:
        item["sl"] = n(slot)
    return item


def run_body(run: Run) -> str:
    """The run's JSON as its item keeps it: without default values (most items stay under 1 KB)."""
    return run.model_dump_json(exclude_defaults=True)


def is_old(item: Item) -> bool:
    """Whether the run item was written by the earlier layout (and not rewritten since)."""
    return "ev" not in item


def slot_token(item: Item) -> int | None:
    """The token of the slot the run holds, if it took one when claimed."""
    return number(item, "sl") if "sl" in item else None


def run_from(item: Item) -> Run:
    return Run.model_validate_json(text(item, "body"))


def history(item: Item) -> list[str]:
    """The events kept on a run item (none on an item of the earlier layout)."""
    return [entry["S"] for entry in item.get("ev", {}).get("L", [])]


def has_old_events(item: Item) -> bool:
    """Whether some of the run's events are ``EVENT#`` items (the earlier layout wrote them)."""
    return "ev" not in item or "oe" in item


def event_entry(event: RunEvent) -> str:
    """One event as kept on its run's item: ``[at, from, to, reason]``, compact JSON."""
    source = None if event.from_state is None else event.from_state.value
    entry = [event.at.isoformat(), source, event.to_state.value, event.reason]
    return json.dumps(entry, separators=(",", ":"))


def event_from_entry(run_id: str, entry: str) -> RunEvent:
    at, source, target, reason = json.loads(entry)
    return RunEvent(run_id=run_id, at=at, from_state=source, to_state=target, reason=reason)


def run_id_from_index(item: Item) -> str:
    """The run id of a keys-only index item (its table PK is ``RUN#<id>``)."""
    return text(item, "PK").removeprefix("RUN#")


def unchanged(expected: Run) -> dict[str, AttributeValueTypeDef]:
    """The values of ``RUN_UNCHANGED`` for a run read as ``expected``."""
    return {":expected": s(expected.state.value), ":version": n(expected.version)}


def moved_item(moved: Run, event: RunEvent | None, current: Item, slot: int | None = None) -> Item:
    """The item of ``moved``: ``current``'s history with ``event`` appended (if any)."""
    entries = [*history(current), *([event_entry(event)] if event else [])]
    return run_item(moved, entries, old_events=has_old_events(current), slot=slot)


def seq_from_index(item: Item) -> tuple[int, str]:
    """(seq, run id) of a keys-only index item."""
    return number(item, "seq"), run_id_from_index(item)


def pending_item(run: Run) -> Item:
    return {**pending_key(run), "run_id": s(run.id)}


def idempotency_item(run: Run, idempotency: str) -> Item:
    return {**idempotency_key(run.queue, idempotency), "run_id": s(run.id)}


def event_from(item: Item) -> RunEvent:
    return RunEvent.model_validate_json(text(item, "body"))


def instant(moment: datetime) -> int:
    """Microseconds since the epoch (naive datetimes taken as UTC): equal instants, equal numbers."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(microseconds=1)


def schedule_item(schedule: Schedule) -> Item:
    return {
        **schedule_key(schedule.name),
        "body": s(schedule.model_dump_json()),
        "next_fire_at": n(instant(schedule.next_fire_at)),
    }


def schedule_from(item: Item) -> Schedule:
    return Schedule.model_validate_json(text(item, "body"))


def unique(ids: Iterable[str]) -> Iterator[str]:
    """``ids`` without repeats (a run may show in two partitions while an index catches up)."""
    seen: set[str] = set()
    for run_id in ids:
        if run_id not in seen:
            seen.add(run_id)
            yield run_id


def batched(ids: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(ids)
    while chunk := list(islice(iterator, size)):
        yield chunk


# -- the table ----------------------------------------------------------------------------
def table_definition(table_name: str) -> CreateTableInputTypeDef:
    """``CreateTable`` arguments (on-demand); template.yaml declares the same table."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
            {"AttributeName": "seq", "AttributeType": "N"},
            {"AttributeName": BY_QUEUE, "AttributeType": "S"},
            {"AttributeName": BY_STATE, "AttributeType": "S"},
            {"AttributeName": BY_QUEUE_STATE, "AttributeType": "S"},
            {"AttributeName": ALL_RUNS_INDEX, "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": index, "KeyType": "HASH"},
                    {"AttributeName": "seq", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
            for index in INDEXES
        ],
    }


# -- errors about items, phrased for the store's callers ------------------------------
def moved_on(
    run_id: str, expected: RunState, now: Item | None, expected_version: int | None = None
) -> NotFound | StaleWrite:
    if now is None:
        return NotFound(f"run {run_id!r} does not exist", field="run")
    state, version = text(now, "state"), number(now, "version")
    # a caller that named the version it holds lost on the version when the state is still the one
    by_version = expected_version is not None and state == expected.value
    return StaleWrite(
        f"run {run_id} changed while moving it from {expected.value} (now {state}, version {version})",
        field="version" if by_version else "state",
    )
