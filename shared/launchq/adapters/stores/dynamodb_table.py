"""The DynamoDB store's edge: every call to the table goes through ``DynamoTable``.

It is where the SDK meets launchq: it asks for the consumed capacity of every call and
adds it up in ``ConsumedCapacity``; it retries what DynamoDB says is worth retrying
(transaction conflicts, unprocessed batch keys); and it turns every botocore error into
a launchq error. A failed condition becomes ``ConditionFailed`` (single-item writes) or
``Cancelled`` (transactions), which the store maps to StaleWrite, AlreadyExists, ...;
neither leaves the store. botocore is imported only when a call is made.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from launchq.adapters import aws_sdk
from launchq.errors import AlreadyExists, BackendUnavailable, InvalidInput, LaunchqError

if TYPE_CHECKING:
    from botocore.exceptions import ClientError
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        ConsumedCapacityTypeDef,
        CreateTableInputTypeDef,
        KeysAndAttributesTypeDef,
        QueryInputTypeDef,
        TransactWriteItemTypeDef,
    )

    Item = dict[str, AttributeValueTypeDef]

T = TypeVar("T")

#: How often a call that DynamoDB says conflicted with a concurrent transaction is retried.
CONFLICT_ATTEMPTS = 12
_BACKOFF_BASE = 0.005
_BACKOFF_CAP = 0.25
#: BatchGetItem takes at most this many keys per request.
BATCH_GET_MAX = 100


@dataclass
class ConsumedCapacity:
    """Read and write units consumed so far, as DynamoDB reported them (``TOTAL``: table and indexes)."""

    read_units: float = 0.0
    write_units: float = 0.0
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, kind: Literal["read", "write"], reported: Sequence[ConsumedCapacityTypeDef]) -> None:
        units = sum(entry.get("CapacityUnits", 0.0) for entry in reported)
        with self._lock:
            self.requests += 1
            if kind == "read":
                self.read_units += units
            else:
                self.write_units += units

    def reset(self) -> None:
        with self._lock:
            self.read_units = self.write_units = 0.0
            self.requests = 0


class ConditionFailed(Exception):
    """A single-item write's condition did not hold; ``item`` is the item as it was (None if absent)."""

    def __init__(self, item: Item | None) -> None:
        super().__init__("conditional check failed")
        self.item = item


@dataclass(frozen=True)
class Reason:
    code: str
    item: Item | None


class Cancelled(Exception):
    """A transaction's conditions did not all hold; one reason per transaction item, in order."""

    def __init__(self, reasons: list[Reason]) -> None:
        super().__init__("transaction cancelled: " + ", ".join(reason.code for reason in reasons))
        self.reasons = reasons

    def failed(self, index: int) -> bool:
        """Whether the condition of item ``index`` failed."""
        return index < len(self.reasons) and self.reasons[index].code == "ConditionalCheckFailed"

    def item(self, index: int) -> Item | None:
        """Item ``index`` as it was when its condition failed (needs ``ALL_OLD``); None if absent."""
        return self.reasons[index].item if index < len(self.reasons) else None


class _Conflict(Exception):
    pass


def build_client() -> DynamoDBClient:
    """A DynamoDB client from the environment as it is now (region, credentials,
    AWS_ENDPOINT_URL_DYNAMODB). Raises BackendUnavailable."""
    client: DynamoDBClient = aws_sdk.client("dynamodb", fresh=True)
    return client


class DynamoTable:
    """One table, through an injected client; strongly consistent reads unless on an index."""

    def __init__(self, client: DynamoDBClient, name: str, consumed: ConsumedCapacity) -> None:
        self.client = client
        self.name = name
        self.consumed = consumed

    def create(self, definition: CreateTableInputTypeDef) -> None:
        """Create the table and wait until it is active. Raises AlreadyExists."""
        self._call(lambda: self.client.create_table(**definition))
        waiter = self.client.get_waiter("table_exists")
        self._call(lambda: waiter.wait(TableName=self.name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}))

    # -- reads --------------------------------------------------------------------------
    def get(self, key: Item) -> Item | None:
        response = self._call(
            lambda: self.client.get_item(
                TableName=self.name, Key=key, ConsistentRead=True, ReturnConsumedCapacity="TOTAL"
            )
        )
        self.consumed.add("read", [response["ConsumedCapacity"]])
        return response.get("Item")

    def query(
        self,
        condition: str,
        values: Mapping[str, AttributeValueTypeDef],
        *,
        index: str | None = None,
        forward: bool = True,
        page_size: int | None = None,
    ) -> Iterator[Item]:
        """Items matching ``condition``, page by page, as long as the caller keeps reading."""
        request: QueryInputTypeDef = {
            "TableName": self.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": forward,
            "ReturnConsumedCapacity": "TOTAL",
        }
        if index is None:
            request["ConsistentRead"] = True  # an index cannot be read consistently
        else:
            request["IndexName"] = index
        if page_size is not None:
            request["Limit"] = page_size
        while True:
            response = self._call(lambda: self.client.query(**request))
            self.consumed.add("read", [response["ConsumedCapacity"]])
            yield from response["Items"]
            if "LastEvaluatedKey" not in response:
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def count(
        self, condition: str, values: Mapping[str, AttributeValueTypeDef], *, index: str | None = None
    ) -> int:
        """How many items match ``condition`` (consistent on the table; an index cannot be)."""
        request: QueryInputTypeDef = {
            "TableName": self.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "Select": "COUNT",
            "ReturnConsumedCapacity": "TOTAL",
        }
        if index is None:
            request["ConsistentRead"] = True
        else:
            request["IndexName"] = index
        total = 0
        while True:
            response = self._call(lambda: self.client.query(**request))
            self.consumed.add("read", [response["ConsumedCapacity"]])
            total += response["Count"]
            if "LastEvaluatedKey" not in response:
                return total
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def batch_get(self, keys: Sequence[Item]) -> list[Item]:
        """The items of ``keys`` that exist, in no particular order (consistent reads)."""
        found: list[Item] = []
        for start in range(0, len(keys), BATCH_GET_MAX):
            pending: Sequence[Mapping[str, Any]] = keys[start : start + BATCH_GET_MAX]
            for attempt in range(CONFLICT_ATTEMPTS):
                request: dict[str, KeysAndAttributesTypeDef] = {
                    self.name: {"Keys": pending, "ConsistentRead": True}
                }
                response = self._call(
                    partial(self.client.batch_get_item, RequestItems=request, ReturnConsumedCapacity="TOTAL")
                )
                self.consumed.add("read", response.get("ConsumedCapacity", []))
                found.extend(response["Responses"].get(self.name, []))
                unprocessed = response.get("UnprocessedKeys", {}).get(self.name)
                pending = unprocessed["Keys"] if unprocessed else []
                if not pending:
                    break
                backoff(attempt)
            else:
                raise BackendUnavailable(f"DynamoDB left {len(pending)} keys unprocessed after retries")
        return found

    # -- writes -------------------------------------------------------------------------
    def put(
        self,
        item: Item,
        condition: str,
        values: Mapping[str, AttributeValueTypeDef] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> None:
        """Write ``item`` if ``condition`` holds; raises ConditionFailed with the old item."""
        extra: dict[str, Any] = {}
        if values:
            extra["ExpressionAttributeValues"] = values
        if names:
            extra["ExpressionAttributeNames"] = names
        response = self._call(
            lambda: self.client.put_item(
                TableName=self.name,
                Item=item,
                ConditionExpression=condition,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ReturnConsumedCapacity="TOTAL",
                **extra,
            )
        )
        self.consumed.add("write", [response["ConsumedCapacity"]])

    def update(
        self,
        key: Item,
        expression: str,
        values: Mapping[str, AttributeValueTypeDef],
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> Item:
        """Apply ``expression``; returns the updated attributes. Raises ConditionFailed."""
        extra: dict[str, Any] = {}
        if condition is not None:
            extra.update(ConditionExpression=condition, ReturnValuesOnConditionCheckFailure="ALL_OLD")
        if names:
            extra["ExpressionAttributeNames"] = names
        response = self._call(
            lambda: self.client.update_item(
                TableName=self.name,
                Key=key,
                UpdateExpression=expression,
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
                ReturnConsumedCapacity="TOTAL",
                **extra,
            )
        )
        self.consumed.add("write", [response["ConsumedCapacity"]])
        return response.get("Attributes", {})

    def delete(
        self, key: Item, condition: str, values: Mapping[str, AttributeValueTypeDef] | None = None
    ) -> None:
        """Delete the item if ``condition`` holds. Raises ConditionFailed with the old item."""
        extra: dict[str, Any] = {"ExpressionAttributeValues": values} if values else {}
        response = self._call(
            lambda: self.client.delete_item(
                TableName=self.name,
                Key=key,
                ConditionExpression=condition,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ReturnConsumedCapacity="TOTAL",
                **extra,
            )
        )
        self.consumed.add("write", [response["ConsumedCapacity"]])

    def transact(self, items: Sequence[TransactWriteItemTypeDef]) -> None:
        """All of ``items`` or none. Raises Cancelled when a condition failed.

        A transaction that lost only to a concurrent one (``TransactionConflict``) is sent
        again, with a new idempotency token since the last one was not applied.
        """
        for attempt in range(CONFLICT_ATTEMPTS):
            token = uuid.uuid4().hex
            try:
                response = self._call(
                    partial(
                        self.client.transact_write_items,
                        TransactItems=items,
                        ClientRequestToken=token,
                        ReturnConsumedCapacity="TOTAL",
                    )
                )
            except _Conflict:
                backoff(attempt)
                continue
            self.consumed.add("write", response.get("ConsumedCapacity", []))
            return
        raise BackendUnavailable("DynamoDB transaction kept conflicting with concurrent ones; retry later")

    # -- the edge -----------------------------------------------------------------------
    def _call(self, send: Callable[[], T]) -> T:
        """Send one request, translating every SDK error (see the module docstring)."""
        from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

        attempt = 0
        while True:
            try:
                return send()
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code == "ConditionalCheckFailedException":
                    raise ConditionFailed(_old_item(exc)) from exc
                if code == "TransactionCanceledException":
                    cancelled = _cancelled(exc)
                    if cancelled is not None:
                        raise cancelled from exc
                    raise _Conflict from exc  # ``transact`` sends it again with a new token
                if code == "TransactionConflictException" and attempt < CONFLICT_ATTEMPTS:
                    backoff(attempt)  # a single-item write hit an item inside a transaction
                    attempt += 1
                    continue
                raise _translate(exc) from exc
            except ParamValidationError as exc:
                raise LaunchqError(f"invalid DynamoDB request: {exc}") from exc
            except BotoCoreError as exc:
                raise BackendUnavailable(f"DynamoDB unreachable: {exc}") from exc


_CONDITION = "ConditionalCheckFailed"
#: Reasons meaning "nothing wrong with this item" or "it met a concurrent transaction".
_HARMLESS = frozenset({"None", "TransactionConflict"})


def _cancelled(exc: ClientError) -> Cancelled | None:
    """The condition failures of a cancelled transaction; None if it only conflicted.

    Raises the translated error when an item failed for another reason (size, throttling).
    """
    reasons = [
        Reason(str(reason.get("Code", "None")), _as_item(reason.get("Item")))
        for reason in exc.response.get("CancellationReasons", [])
    ]
    codes = {reason.code for reason in reasons}
    if _CONDITION in codes:
        return Cancelled(reasons)
    if codes <= _HARMLESS:
        return None
    message = exc.response.get("Error", {}).get("Message", "")
    if "ValidationError" in codes:
        raise InvalidInput(f"DynamoDB refused a record: {message}") from exc
    raise BackendUnavailable(f"DynamoDB cancelled the transaction: {message}") from exc


def _old_item(exc: ClientError) -> Item | None:
    response: Mapping[str, Any] = exc.response
    return _as_item(response.get("Item"))


def _as_item(value: object) -> Item | None:
    """botocore's parsed ``Item`` of a failed condition (typed loosely by the stubs)."""
    return cast("Item", value) if isinstance(value, dict) and value else None


def _translate(exc: ClientError) -> LaunchqError:
    """A launchq error for an SDK error that is not about a condition."""
    error = exc.response.get("Error", {})
    code, message = error.get("Code", "Unknown"), error.get("Message", str(exc))
    if code == "ResourceInUseException":  # CreateTable of a table that exists
        return AlreadyExists(f"DynamoDB {code}: {message}", field="table")
    if code == "ValidationException":
        if "size" in message.lower():
            return InvalidInput(f"record too large for DynamoDB: {message}")
        return LaunchqError(f"DynamoDB rejected the request: {message}")
    # Missing table, throttling, capacity, access, service errors: the store is unavailable.
    return BackendUnavailable(f"DynamoDB {code}: {message}")


def backoff(attempt: int) -> None:
    """Full jitter, so racing writers spread out instead of colliding again."""
    time.sleep(random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt)))  # noqa: S311 - jitter
