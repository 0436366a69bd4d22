"""The ``TransactWriteItems`` entries the DynamoDB store sends (the items are in ``dynamodb_items``).

Transactions are kept for what must change together with more than one item: a new
queue and its slots, a run with an idempotency key, a queue's settings and its slots, the
repair of a slot, and runs of the earlier layout (whose pending entry and the queue's
counters move with them). One run's ordinary life needs none (see ``dynamodb_slots``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from launchq.adapters.stores.dynamodb_items import (
    ABSENT,
    EXISTS,
    RUN_NAMES,
    RUN_UNCHANGED,
    pending_key,
    queue_key,
    run_key,
    unchanged,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

    from launchq.domain.models import Run

    Item = dict[str, AttributeValueTypeDef]


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
        _expressions(put["Put"], condition, values, names)
        return put

    def put_run(self, item: Item, expected: Run | None) -> TransactWriteItemTypeDef:
        """Write a run ``item``: new (``expected`` None) or replacing ``expected`` if it is unchanged."""
        if expected is None:
            return self.put(item, ABSENT)
        return self.put(item, RUN_UNCHANGED, unchanged(expected), RUN_NAMES)

    def run_unchanged(self, expected: Run) -> TransactWriteItemTypeDef:
        """A check that the run is still as ``expected`` (in a transaction that does not write it)."""
        return {
            "ConditionCheck": {
                "TableName": self.table_name,
                "Key": run_key(expected.id),
                "ConditionExpression": RUN_UNCHANGED,
                "ExpressionAttributeValues": unchanged(expected),
                "ExpressionAttributeNames": RUN_NAMES,
            }
        }

    def count_queue(self, queue: str, *, active: int = 0, queued: int = 0) -> TransactWriteItemTypeDef:
        """Adjust the earlier layout's counters on the queue item (the queue must exist)."""
        return self.update(
            queue_key(queue),
            "ADD active :active, queued :queued",
            EXISTS,
            {":active": {"N": str(active)}, ":queued": {"N": str(queued)}},
        )

    def leave_old_line(self, run: Run) -> list[TransactWriteItemTypeDef]:
        """A queued run of the earlier layout leaves its line: its entry and the queue's count."""
        return [self.delete(pending_key(run)), self.count_queue(run.queue, queued=-1)]

    def delete(self, item_key: Item, condition: str | None = None) -> TransactWriteItemTypeDef:
        delete: TransactWriteItemTypeDef = {"Delete": {"TableName": self.table_name, "Key": item_key}}
        if condition is not None:
            delete["Delete"]["ConditionExpression"] = condition
        return delete

    def update(
        self,
        item_key: Item,
        expression: str,
        condition: str | None,
        values: Mapping[str, AttributeValueTypeDef] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> TransactWriteItemTypeDef:
        update: TransactWriteItemTypeDef = {
            "Update": {"TableName": self.table_name, "Key": item_key, "UpdateExpression": expression}
        }
        _expressions(update["Update"], condition, values, names)
        return update


def _expressions(
    entry: Any,
    condition: str | None,
    values: Mapping[str, AttributeValueTypeDef] | None,
    names: Mapping[str, str] | None,
) -> None:
    """Add a condition (asking for the item as it was when it fails) and expression values
    and names to a transaction entry."""
    if condition is not None:
        entry["ConditionExpression"] = condition
        entry["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    if values:
        entry["ExpressionAttributeValues"] = values
    if names:
        entry["ExpressionAttributeNames"] = names
