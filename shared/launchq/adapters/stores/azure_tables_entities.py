"""The Azure Tables store's entities: table names, keys, and how a record fits in an entity.

Pure functions, no SDK: ``azure_tables_edge`` is the only module that talks to Azure. The
layout (one partition per queue, the line ordered by RowKey) is described in
``launchq.adapters.stores.azure_tables``; the keys that make it work are built here.

Sizes: Azure caps a string property at 64 KiB (32 K UTF-16 characters) and an entity at
1 MiB (Cosmos DB's Table API at 2 MB). A record's JSON (a run with its spec, a queue with
its config, a job) is compressed (zlib) and split into binary properties ``B00``, ``B01``, ...
of at most 64 KiB each, with ``Parts`` saying how many: up to ``MAX_PARTS`` of them (960 KiB
compressed, room left for the query properties), past which the write is refused as
PayloadTooLarge naming the field. The API already refuses bodies over 1 MiB, and JSON
compresses, so a run the API accepted fits.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from launchq.domain.models import Run, RunEvent
from launchq.errors import InvalidInput, PayloadTooLarge

Entity = dict[str, Any]

#: Every table of one deployment, each named ``<prefix><kind>``.
TABLES = ("runs", "runindex", "queues", "jobs", "schedules", "apikeys", "tails")

PART_BYTES = 64 * 1024
MAX_PARTS = 15

#: Fixed RowKeys inside a queue's partition (the queue's definition and its running count).
QUEUE_ROW = "queue"
SLOTS_ROW = "slots"
#: Shards of an unlimited queue's running count (``slots``, ``slots-1``, ...): claims on it
#: spread their count writes over these instead of queueing on one ETag.
COUNT_SHARDS = 8
LINE_PREFIX = "line-"
RUN_PREFIX = "run-"
EVENT_PREFIX = "event-"
KEY_PREFIX = "key-"

_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,49}$")

#: 2020-01-01 in milliseconds: ``clock_seq`` counts from there, as the Firestore store does.
_SEQ_EPOCH_MS = 1_577_836_800_000
_SEQ_SHIFT = 11
SEQ_DIGITS = 20


def check_prefix(prefix: str) -> str:
    """``prefix`` if it can start a table name (a letter, then letters and digits: Azure's rule
    for table names, leaving room for the longest kind). Raises InvalidInput (field ``prefix``)."""
    if not _PREFIX.match(prefix):
        raise InvalidInput(
            f"{prefix!r} cannot start an Azure table name: a letter, then up to 49 letters or digits",
            field="prefix",
        )
    return prefix


def name_key(name: str) -> str:
    """A user-given name as a key: ``/ \\ # ?`` and control characters cannot appear in one.
    launchq's names (letters, digits, ``_ . -``) pass unchanged."""
    return quote(name, safe="")


def queue_pk(queue: str) -> str:
    """The partition of a queue: its definition, count, line, runs, events and keys."""
    return f"q-{name_key(queue)}"


def line_row(priority: int, seq: int) -> str:
    """A queued run's entry in its queue's line. Priority first (0, critical, runs first, so it
    is not inverted: launchq's lower number is the more urgent one), then ``seq`` (FIFO), both
    zero-padded so that string order is numeric order."""
    if not 0 <= priority <= 99 or not 0 <= seq < 10**SEQ_DIGITS:
        raise ValueError(f"priority {priority} or seq {seq} does not fit a line key")
    return f"{LINE_PREFIX}{priority:02d}{seq:0{SEQ_DIGITS}d}"


def run_row(run_id: str) -> str:
    return f"{RUN_PREFIX}{run_id}"


def event_row(run_id: str, version: int) -> str:
    """The event that produced ``version``: creating it in the move's transaction is a guard."""
    return f"{EVENT_PREFIX}{run_id}-{version:08d}"


def event_range(run_id: str) -> tuple[str, str]:
    """The RowKeys between which a run's events lie (``.`` follows ``-``)."""
    return f"{EVENT_PREFIX}{run_id}-", f"{EVENT_PREFIX}{run_id}."


def prefix_range(prefix: str) -> tuple[str, str]:
    """The RowKeys starting with ``prefix``, which ends in ``-``, as a ``ge``/``lt`` pair."""
    return prefix, prefix[:-1] + "."


def count_row(shard: int) -> str:
    """Shard 0 is the only one a limited queue's claims raise (they must all read one ETag)."""
    return SLOTS_ROW if shard == 0 else f"{SLOTS_ROW}-{shard}"


def job_row(version: int) -> str:
    return f"v{version:08d}"


def clock_seq() -> int:
    """The clock's part of a new ``seq``: milliseconds since 2020, shifted to leave room.

    Within a queue the ``seq`` is also above the queue's last one (the queue entity holds it
    and an enqueue's transaction is conditional on its ETag), so FIFO inside a queue is exact;
    the clock orders runs across queues (``list_runs`` is newest first over all of them)."""
    return (time.time_ns() // 1_000_000 - _SEQ_EPOCH_MS) << _SEQ_SHIFT


def packed(text: str, field: str) -> Entity:
    """``text`` compressed and split into binary properties (see the module doc).

    Raises PayloadTooLarge naming ``field`` when even compressed it exceeds ``MAX_PARTS``."""
    raw = zlib.compress(text.encode(), 6)
    parts = [raw[start : start + PART_BYTES] for start in range(0, len(raw), PART_BYTES)]
    if len(parts) > MAX_PARTS:
        raise PayloadTooLarge(
            f"is {len(raw)} bytes compressed; an Azure Tables entity holds {MAX_PARTS * PART_BYTES}",
            field=field,
        )
    return {"Parts": len(parts), **{f"B{index:02d}": part for index, part in enumerate(parts)}}


def unpacked(entity: Mapping[str, Any]) -> str:
    """The text ``packed`` stored in ``entity``."""
    raw = b"".join(entity[f"B{index:02d}"] for index in range(int(entity["Parts"])))
    return zlib.decompress(raw).decode()


def keys(partition: str, row: str) -> Entity:
    return {"PartitionKey": partition, "RowKey": row}


def run_entity(run: Run) -> Entity:
    """A run: its query properties (state, priority, seq) beside its packed JSON."""
    return {
        **keys(queue_pk(run.queue), run_row(run.id)),
        "State": run.state.value,
        "Priority": int(run.priority),
        "Seq": f"{run.seq:0{SEQ_DIGITS}d}",
        "Version": run.version,
        **packed(run.model_dump_json(exclude_defaults=True), "spec"),
    }


def run_from(entity: Mapping[str, Any]) -> Run:
    return Run.model_validate_json(unpacked(entity))


def line_entity(run: Run) -> Entity:
    """A queued run's place in line, carrying a copy of the run: a claim reads the head of the
    line and nothing else, and deleting the entry on its ETag proves the run is still queued
    as read (every move out of the line deletes it in the move's transaction)."""
    return {**run_entity(run), "RowKey": line_row(int(run.priority), run.seq), "RunId": run.id}


def event_entity(queue: str, event: RunEvent, version: int) -> Entity:
    return {
        **keys(queue_pk(queue), event_row(event.run_id, version)),
        **packed(event.model_dump_json(), "reason"),
    }


def event_from(entity: Mapping[str, Any]) -> RunEvent:
    return RunEvent.model_validate_json(unpacked(entity))
