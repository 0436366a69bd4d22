"""A DynamoDB client that also adds up what AWS would bill for each request it sends.

It wraps a real client (DynamoDB Local in the tests and the bench) and, around every write,
reads the affected items before and after with the raw client (those reads are not
counted), then prices the write with ``dynamodb_billing`` and the table's real index
definitions. Reads are priced from the items they returned (a ``COUNT`` query is re-run to
see the items it counted). What DynamoDB Local itself reports stays available next to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from launchq.adapters.stores import dynamodb_billing as billing


@dataclass
class Billed:
    """Units as AWS's rules bill them (see ``dynamodb_billing``)."""

    write_units: float = 0.0
    read_units: float = 0.0
    steps: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.write_units = self.read_units = 0.0
        self.steps.clear()


class MeteringClient:
    """Delegates to ``client``; prices every write and read into ``billed``."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.billed = Billed()
        self._indexes: dict[str, tuple[list[billing.Index], list[str]]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    # -- the table's shape ----------------------------------------------------------------
    def _shape(self, table: str) -> tuple[list[billing.Index], list[str]]:
        if table not in self._indexes:
            described = self._client.describe_table(TableName=table)["Table"]
            keys = [key["AttributeName"] for key in described["KeySchema"]]
            indexes = [_index(definition) for definition in described.get("GlobalSecondaryIndexes", [])]
            self._indexes[table] = (indexes, keys)
        return self._indexes[table]

    def _get(self, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._client.get_item(
            TableName=table, Key=key, ConsistentRead=True
        ).get("Item")
        return item

    def _key(self, table: str, item: Mapping[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self._shape(table)[1]}

    def _write(
        self, writes: Sequence[tuple[str, Mapping[str, Any]]], send: Any, *, transactional: bool
    ) -> Any:
        """Send a write of the items at ``writes`` (table, key); price it whether it succeeds or not."""
        before = [self._get(table, key) for table, key in writes]
        try:
            response = send()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (
                "ConditionalCheckFailedException",
                "TransactionCanceledException",
            ):
                for (table, _), old in zip(writes, before, strict=True):
                    indexes, keys = self._shape(table)
                    self.billed.write_units += billing.billed_write(
                        old, None, indexes, keys, transactional=transactional, failed=True
                    )
            raise
        for (table, key), old in zip(writes, before, strict=True):
            indexes, keys = self._shape(table)
            new = self._get(table, key)
            self.billed.write_units += billing.billed_write(
                old, new, indexes, keys, transactional=transactional
            )
        return response

    # -- writes ---------------------------------------------------------------------------
    def put_item(self, **request: Any) -> Any:
        table = request["TableName"]
        key = self._key(table, request["Item"])
        return self._write([(table, key)], lambda: self._client.put_item(**request), transactional=False)

    def update_item(self, **request: Any) -> Any:
        writes = [(request["TableName"], request["Key"])]
        return self._write(writes, lambda: self._client.update_item(**request), transactional=False)

    def delete_item(self, **request: Any) -> Any:
        writes = [(request["TableName"], request["Key"])]
        return self._write(writes, lambda: self._client.delete_item(**request), transactional=False)

    def transact_write_items(self, **request: Any) -> Any:
        writes = []
        for entry in request["TransactItems"]:
            kind, action = next(iter(entry.items()))
            table = action["TableName"]
            writes.append((table, self._key(table, action["Item"]) if kind == "Put" else action["Key"]))
        return self._write(writes, lambda: self._client.transact_write_items(**request), transactional=True)

    # -- reads ----------------------------------------------------------------------------
    def get_item(self, **request: Any) -> Any:
        response = self._client.get_item(**request)
        size = billing.item_size(response.get("Item"))
        self.billed.read_units += billing.read_units(size, consistent=bool(request.get("ConsistentRead")))
        return response

    def query(self, **request: Any) -> Any:
        response = self._client.query(**request)
        items = response.get("Items")
        if request.get("Select") == "COUNT":  # the counted items were read all the same
            items = self._client.query(**{k: v for k, v in request.items() if k != "Select"})["Items"]
        size = sum(billing.item_size(item) for item in items or [])
        self.billed.read_units += billing.read_units(size, consistent=bool(request.get("ConsistentRead")))
        return response

    def batch_get_item(self, **request: Any) -> Any:
        response = self._client.batch_get_item(**request)
        for table, found in response.get("Responses", {}).items():
            consistent = bool(request["RequestItems"][table].get("ConsistentRead"))
            asked = len(request["RequestItems"][table]["Keys"])
            sizes = [billing.item_size(item) for item in found] + [0] * (asked - len(found))
            self.billed.read_units += sum(billing.read_units(size, consistent=consistent) for size in sizes)
        return response


def _index(definition: Mapping[str, Any]) -> billing.Index:
    keys = {key["KeyType"]: key["AttributeName"] for key in definition["KeySchema"]}
    projection = definition["Projection"]
    kind = projection["ProjectionType"]
    projected: billing.Projection = (
        tuple(projection.get("NonKeyAttributes", [])) if kind == "INCLUDE" else kind
    )
    return billing.Index(definition["IndexName"], keys["HASH"], keys.get("RANGE"), projected)
