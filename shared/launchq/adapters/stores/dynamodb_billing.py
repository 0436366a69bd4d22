"""What DynamoDB bills for a write or a read, by AWS's published rules (not DynamoDB Local's count).

DynamoDB Local reports consumed capacity with its own simplifications (e.g. a transaction of
four small items and one of two are charged alike), so its figures cannot say what a run costs
on AWS. These pure functions apply the published rules to the items a request wrote or read,
so a layout can be priced before it is deployed (``tests/perf/dynamodb_bench.py`` feeds them
the before- and after-images of every write the store makes).

The rules, as published (looked up 2026-11-30):

* Item size = sum over attributes of (UTF-8 bytes of the name) + (size of the value): a string
  its UTF-8 bytes; a number about 1 byte per two significant digits + 1; binary its raw bytes;
  null/boolean 1 byte; a list or map 3 bytes + 1 byte per element + the elements.
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
* A standard write is 1 write unit per started 1 KB of the item; an update is sized by the
  larger of the item before and after it; a delete by the deleted item; a conditional write
  whose condition fails still costs (the existing item's size, at least 1 unit). A
  transactional write is 2 units per started 1 KB per item. Reads: 1 unit per started 4 KB
  strongly consistent, half that eventually consistent (indexes), 2x transactional; a Query
  sums the sizes of the items it read before rounding, BatchGetItem rounds each item.
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
  https://aws.amazon.com/dynamodb/pricing/on-demand/
* A global secondary index is written when an item enters it (1 put), leaves it (1 delete),
  changes its index key (a delete and a put: 2 writes), or keeps its key but changes a
  projected attribute (1 write), each by the size of the index entry (its projected
  attributes). An item that is in the index neither before nor after costs nothing there;
  so does an update that changes no index key and no projected attribute. Index entries are
  propagated after a transaction commits, so they are billed as standard writes.
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.ThroughputConsiderations.Writes
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

#: The published on-demand prices used for dollar figures: us-east-1, looked up 2026-11-30
#: on https://aws.amazon.com/dynamodb/pricing/on-demand/ (USD per million request units).
PRICE_REGION = "us-east-1"
PRICE_DATE = "2026-11-30"
USD_PER_MILLION_WRITE_UNITS = 0.625
USD_PER_MILLION_READ_UNITS = 0.125

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096

Item = Mapping[str, Mapping[str, Any]]
Projection = Literal["KEYS_ONLY", "ALL"] | tuple[str, ...]


@dataclass(frozen=True)
class Index:
    """A global secondary index: its key attributes and what it projects (``INCLUDE`` = a tuple)."""

    name: str
    hash_key: str
    range_key: str | None = None
    projection: Projection = "KEYS_ONLY"


def number_size(text: str) -> int:
    """Bytes of a number: 1 per two significant digits (leading/trailing zeros trimmed) + 1."""
    digits = text.lstrip("+-").replace(".", "").lstrip("0").rstrip("0")
    return math.ceil(len(digits) / 2) + 1


def _text_size(content: Any) -> int:
    return len(str(content).encode())


def _raw_size(content: Any) -> int:
    return len(content)


#: Sizes of the scalar and set types, by the type's wire name.
_SIZES: dict[str, Callable[[Any], int]] = {
    "S": _text_size,
    "N": lambda content: number_size(str(content)),
    "B": _raw_size,
    "BOOL": lambda _: 1,
    "NULL": lambda _: 1,
    "SS": lambda members: sum(_text_size(member) for member in members),
    "NS": lambda members: sum(number_size(str(member)) for member in members),
    "BS": lambda members: sum(_raw_size(member) for member in members),
}


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value (without its name), in the wire format ``{"S": ...}``."""
    kind, content = next(iter(value.items()))
    if kind == "L":
        return 3 + sum(1 + value_size(member) for member in content)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_size(member) for name, member in content.items())
    if kind not in _SIZES:
        raise ValueError(f"unknown DynamoDB attribute type {kind!r}")
    return _SIZES[kind](content)


def item_size(item: Item | None) -> int:
    """Bytes of an item: attribute names plus values (0 for no item)."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int, *, transactional: bool = False) -> int:
    """Units of one item write of ``size`` bytes (at least one unit, even for a missing item)."""
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return 2 * units if transactional else units


def read_units(size: int, *, consistent: bool = True, transactional: bool = False) -> float:
    """Units of reading ``size`` bytes in one request (at least one 4 KB block)."""
    blocks = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return 2.0 * blocks
    return float(blocks) if consistent else blocks / 2


def table_write_units(before: Item | None, after: Item | None, *, transactional: bool = False) -> int:
    """The table's part of a write: the larger of the item before and after it."""
    return write_units(max(item_size(before), item_size(after)), transactional=transactional)


def _entry(item: Item | None, index: Index, table_keys: Sequence[str]) -> dict[str, Mapping[str, Any]] | None:
    """The index entry of ``item`` (its projected attributes), or None when it is not in the index."""
    if not item or index.hash_key not in item or (index.range_key and index.range_key not in item):
        return None
    if index.projection == "ALL":
        return dict(item)
    keys = {*table_keys, index.hash_key, *([index.range_key] if index.range_key else [])}
    projected = keys | (set(index.projection) if isinstance(index.projection, tuple) else set())
    return {name: value for name, value in item.items() if name in projected}


def index_write_units(
    before: Item | None, after: Item | None, index: Index, table_keys: Sequence[str]
) -> int:
    """Units one table write costs in ``index`` (see the module docstring for the rules)."""
    old, new = _entry(before, index, table_keys), _entry(after, index, table_keys)
    if old is None and new is None:
        return 0
    if old is None or new is None:
        return write_units(item_size(old if new is None else new))
    index_keys = [index.hash_key, *([index.range_key] if index.range_key else [])]
    if any(old[key] != new[key] for key in index_keys):
        return write_units(item_size(old)) + write_units(item_size(new))
    return write_units(item_size(new)) if old != new else 0


def billed_write(
    before: Item | None,
    after: Item | None,
    indexes: Sequence[Index],
    table_keys: Sequence[str],
    *,
    transactional: bool = False,
    failed: bool = False,
) -> int:
    """Units AWS bills for one item write: the table's part plus every index's part.

    A failed condition writes nothing, but still costs the table's part (of the item as it is).
    """
    if failed:
        return table_write_units(before, None, transactional=transactional)
    table = table_write_units(before, after, transactional=transactional)
    return table + sum(index_write_units(before, after, index, table_keys) for index in indexes)


def usd_per_million_runs(write_units_per_run: float, read_units_per_run: float) -> float:
    """On-demand request cost of a million runs at the published us-east-1 prices."""
    return write_units_per_run * USD_PER_MILLION_WRITE_UNITS + read_units_per_run * USD_PER_MILLION_READ_UNITS
