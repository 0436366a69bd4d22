"""The DynamoDB store's single-table layout: keys, items, and the table definition.

One table, string keys ``PK``/``SK``; every record is kept as its pydantic JSON in ``body``
with copies of the fields that keys and conditions need next to it.

============================  =====================  ================================
record                        PK                     SK
============================  =====================  ================================
queue (+ ``active``/          ``QUEUES``             ``<queue>``
``queued`` counters)
pending entry (-> run id)     ``QUEUE#<queue>``      ``PENDING#<priority>#<seq:020>``
idempotency key (-> run id)   ``QUEUE#<queue>``      ``IDEM#<key>``
run                           ``RUN#<id>``           ``RUN``
run event                     ``RUN#<id>``           ``EVENT#<version:010>``
schedule                      ``SCHEDULES``          ``<name>``
run seq counter               ``COUNTER``            ``run_seq``
============================  =====================  ================================

Pending entries sort by priority then seq, so the head of a queue's line is one
strongly consistent ``Query`` with a small ``Limit`` (O(log n) in queue depth), and a
run's place in line is a ``Select=COUNT`` query up to its own entry.

Run items alone carry the keys of four keys-only GSIs, all sorted by ``seq`` (N):

* ``by_queue``       ``QUEUE#<queue>``                 a queue's runs, newest first
* ``by_state``       ``STATE#<state>``                 runs in a state, any queue (reconciler)
* ``by_queue_state`` ``QUEUE#<queue>#STATE#<state>``   a queue's runs in a state
* ``all_runs``       ``RUNS`` (one fixed partition)    every run, newest first

Projections are ``KEYS_ONLY``: an index is written only when its key changes (the two
state indexes on a state change; the other two once, at enqueue), and listings read the
bodies back from the table with a consistent ``BatchGetItem``. The fixed ``all_runs``
partition takes one small write per enqueued run; that is the accepted price of an
unfiltered "newest runs" listing without a Scan.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from launchq.domain.models import Queue, Run, RunEvent, Schedule
from launchq.domain.states import RunState
from launchq.errors import NotFound, StaleWrite

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        CreateTableInputTypeDef,
        TransactWriteItemTypeDef,
    )

    Item = dict[str, AttributeValueTypeDef]

QUEUES_PK = "QUEUES"
SCHEDULES_PK = "SCHEDULES"
PENDING_PREFIX = "PENDING#"
EVENT_PREFIX = "EVENT#"
RUN_SK = "RUN"
ALL_RUNS = "RUNS"

BY_QUEUE = "by_queue"
BY_STATE = "by_state"
BY_QUEUE_STATE = "by_queue_state"
ALL_RUNS_INDEX = "all_runs"
INDEXES = (BY_QUEUE, BY_STATE, BY_QUEUE_STATE, ALL_RUNS_INDEX)

EXISTS = "attribute_exists(PK)"
ABSENT = "attribute_not_exists(PK)"
#: ``state`` and ``version`` are DynamoDB reserved words: expressions name them through these.
_RUN_NAMES = {"#state": "state", "#version": "version"}

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


COUNTER_KEY: Item = key("COUNTER", "run_seq")


def index_partition(queue: str | None, state: RunState | None) -> tuple[str, str, str]:
    """(index name, its partition key attribute, the partition) listing runs by these filters."""
    if queue is None and state is None:
        return ALL_RUNS_INDEX, ALL_RUNS_INDEX, ALL_RUNS
    if state is None:
        return BY_QUEUE, BY_QUEUE, f"QUEUE#{queue}"
    if queue is None:
        return BY_STATE, BY_STATE, f"STATE#{state.value}"
    return BY_QUEUE_STATE, BY_QUEUE_STATE, f"QUEUE#{queue}#STATE#{state.value}"


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


def run_item(run: Run) -> Item:
    """The run's item, with the keys of every index it belongs to."""
    item: Item = {
        **run_key(run.id),
        "body": s(run.model_dump_json()),
        "state": s(run.state.value),
        "version": n(run.version),
        "queue": s(run.queue),
        "seq": n(run.seq),
    }
    for state in (None, run.state):
        for queue in (None, run.queue):
            _, attribute, partition = index_partition(queue, state)
            item[attribute] = s(partition)
    return item


def run_from(item: Item) -> Run:
    return Run.model_validate_json(text(item, "body"))


def run_id_from_index(item: Item) -> str:
    """The run id of a keys-only index item (its table PK is ``RUN#<id>``)."""
    return text(item, "PK").removeprefix("RUN#")


def pending_item(run: Run) -> Item:
    return {**pending_key(run), "run_id": s(run.id)}


def idempotency_item(run: Run, idempotency: str) -> Item:
    return {**idempotency_key(run.queue, idempotency), "run_id": s(run.id)}


def event_item(event: RunEvent, version: int) -> Item:
    """The event of the transition that brought its run to ``version``."""
    return {**key(run_pk(event.run_id), f"{EVENT_PREFIX}{version:010d}"), "body": s(event.model_dump_json())}


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


# -- transaction items -------------------------------------------------------------------
class TransactionItems:
    """Builds the ``TransactWriteItems`` entries of one table.

    Every conditional entry asks for ``ALL_OLD`` on failure, so a cancelled transaction
    says what the item looked like (e.g. the run's state now, or that the queue is gone).
    """

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def put(
        self,
        item: Item,
        condition: str | None = None,
        values: Mapping[str, AttributeValueTypeDef] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> TransactWriteItemTypeDef:
        put: TransactWriteItemTypeDef = {"Put": {"TableName": self.table_name, "Item": item}}
        if condition is not None:
            put["Put"]["ConditionExpression"] = condition
            put["Put"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        if values:
            put["Put"]["ExpressionAttributeValues"] = values
        if names:
            put["Put"]["ExpressionAttributeNames"] = names
        return put

    def put_run(self, run: Run, expected: Run | None) -> TransactWriteItemTypeDef:
        """Write ``run``: new (``expected`` None) or replacing ``expected`` if it is unchanged."""
        if expected is None:
            return self.put(run_item(run), ABSENT)
        values = {":expected": s(expected.state.value), ":version": n(expected.version)}
        return self.put(run_item(run), "#state = :expected AND #version = :version", values, _RUN_NAMES)

    def count_queue(self, queue: str, *, active: int = 0, queued: int = 0) -> TransactWriteItemTypeDef:
        """Adjust the queue's counters (the queue must exist)."""
        return self._update_queue(
            queue, "ADD active :active, queued :queued", EXISTS, {":active": n(active), ":queued": n(queued)}
        )

    def take_slot(self, queue: str) -> TransactWriteItemTypeDef:
        """Move one run of the queue from waiting to active, only while a slot is free."""
        return self._update_queue(
            queue,
            "ADD active :one, queued :minus_one",
            f"{EXISTS} AND (max_jobs = :unlimited OR active < max_jobs)",
            {":one": n(1), ":minus_one": n(-1), ":unlimited": n(-1)},
        )

    def delete(self, item_key: Item, condition: str | None = None) -> TransactWriteItemTypeDef:
        delete: TransactWriteItemTypeDef = {"Delete": {"TableName": self.table_name, "Key": item_key}}
        if condition is not None:
            delete["Delete"]["ConditionExpression"] = condition
        return delete

    def _update_queue(
        self, queue: str, expression: str, condition: str, values: Mapping[str, AttributeValueTypeDef]
    ) -> TransactWriteItemTypeDef:
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": queue_key(queue),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeValues": values,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }


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
def moved_on(run_id: str, expected: RunState, now: Item | None) -> NotFound | StaleWrite:
    if now is None:
        return NotFound(f"run {run_id!r} does not exist", field="run")
    state, version = text(now, "state"), number(now, "version")
    return StaleWrite(
        f"run {run_id} changed while moving it from {expected.value} (now {state}, version {version})",
        field="state",
    )


def not_due(name: str, current: datetime, expected: datetime) -> StaleWrite:
    return StaleWrite(
        f"schedule {name!r} next fires at {current.isoformat()}, not {expected.isoformat()}",
        field="next_fire_at",
    )
