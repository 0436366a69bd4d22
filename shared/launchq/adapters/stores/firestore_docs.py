"""The Firestore store's documents: where each record lives, how it is written and read back.

The single edge of the Firestore store to Google's SDK (with ``launchq.gcp.errors``, which
translates its errors): the store's other modules ask ``FirestoreDocs`` for collections,
references and queries and never import ``google`` themselves. The SDK is imported when a
``FirestoreDocs`` is built, never when this module loads, so an AWS Lambda that imports
``launchq.adapters.stores`` loads no Google code.

Collections (``<prefix>_<kind>``, so several deployments can share one database):

| collection | document id | holds |
|---|---|---|
| queues | quoted name | ``body`` (Queue JSON), ``version`` |
| runs | run id | ``queue``, ``state``, ``priority``, ``seq``, ``version``, ``slot``, ``lease``, ``body`` |
| events | ``<run id>-<version:08d>`` | ``run_id``, ``version``, ``body`` (RunEvent JSON), ``token`` |
| slots | ``<quoted queue>#<i>`` | ``queue``, ``run_id``, ``token``: one per slot held on a limited queue |
| keys | sha256 of queue and idempotency key | ``run_id`` |
| seqs | sha256 of the seq | ``run_id``: keeps each ``seq`` unique |
| tails | run id | ``body`` (LogTail JSON) |
| jobs | ``<quoted name>#<version:08d>`` | ``name``, ``version``, ``body`` |
| job_heads | quoted name | ``name``, ``latest``, ``body`` (the latest version) |
| schedules | quoted name | ``name``, ``body`` |

A run's lease lives in its own fields (``lease``, and ``lease_version``: the version it was
written for) beside the body, so a heartbeat (``renew_lease``) updates those two and never
rewrites a body a concurrent move wrote; a lease written for another version than the
body's is ignored, so a late heartbeat cannot undo a move.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from launchq.domain.models import Run, RunEvent
from launchq.domain.states import ACTIVE, RunState
from launchq.errors import AlreadyExists, NotFound
from launchq.gcp.errors import Translation, gcp_call, import_sdk

if TYPE_CHECKING:
    from google.cloud.firestore import Client, CollectionReference, DocumentSnapshot, Query

Doc = dict[str, Any]

#: Guard writes (``create``) losing to another writer, and ``update`` of a missing document.
TABLE: dict[str, Translation] = {"AlreadyExists": AlreadyExists, "NotFound": NotFound}

_SEQ_LOCK = threading.Lock()
_last_seq = 0


#: 2020-01-01 in milliseconds: ``seq`` counts from there so it stays below 2**53 (a JSON
#: number any client reads exactly, and the emulator's integer limit) until the year 2159.
_SEQ_EPOCH_MS = 1_577_836_800_000
_SEQ_RANDOM_BITS = 11


def next_seq() -> int:
    """A run's ``seq``: the enqueue's millisecond (since 2020) on this writer's clock, then
    11 random bits.

    Why not a counter: a per-queue counter document written by every enqueue would be the
    hot document issue 13 rules out (about one sustained write a second). The clock orders
    enqueues across writers to the millisecond; within one process ``seq`` strictly
    increases (so FIFO holds exactly for one server), and two writers draw the same seq only
    on the same millisecond with the same 11 random bits (1 in 2048 per pair of enqueues made
    in one millisecond by two servers), which the store's ``seqs`` guard turns into a retry.
    The cost: FIFO across servers is as good as their clocks (NTP: a few milliseconds).
    """
    global _last_seq  # noqa: PLW0603 - one clock per process, guarded by its lock
    with _SEQ_LOCK:
        millis = time.time_ns() // 1_000_000 - _SEQ_EPOCH_MS
        candidate = millis << _SEQ_RANDOM_BITS | random.getrandbits(_SEQ_RANDOM_BITS)
        _last_seq = max(candidate, _last_seq + 1)
        return _last_seq


def quoted(name: str) -> str:
    """A user-given name as a document id (``/`` cannot appear in one)."""
    return quote(name, safe="")


def event_id(run_id: str, version: int) -> str:
    """The id of the event that produced ``version``: creating it is the move's guard."""
    return f"{run_id}-{version:08d}"


def seq_id(seq: int) -> str:
    """The id of a seq's guard document: a hash, since ids in increasing order hot-spot."""
    return hashlib.sha256(str(seq).encode()).hexdigest()[:32]


def slot_id(queue: str, slot: int) -> str:
    return f"{quoted(queue)}#{slot}"


def key_id(queue: str, idempotency_key: str) -> str:
    return hashlib.sha256(f"{queue}\0{idempotency_key}".encode()).hexdigest()


def job_id(name: str, version: int) -> str:
    return f"{quoted(name)}#{version:08d}"


def run_doc(run: Run, slot: int | None) -> Doc:
    """The fields of a run's document (query fields beside the JSON body)."""
    lease = run.lease_expires_at
    return {
        "queue": run.queue,
        "state": run.state.value,
        "priority": int(run.priority),
        "seq": run.seq,
        "version": run.version,
        "slot": slot,
        "lease": None if lease is None else lease.isoformat(),
        "lease_version": run.version,
        "body": run.model_dump_json(exclude_defaults=True),
    }


def run_from(doc: Doc) -> Run:
    """The run of a document, its lease taken from the ``lease`` field when that was written
    for the body's version: a renewal that lost to a move (possible only where transactions
    do not isolate, as on the emulator) then changes nothing (see the module doc)."""
    run = Run.model_validate_json(doc["body"])
    if doc.get("lease_version") != run.version:
        return run
    lease = doc.get("lease")
    expires = None if lease is None else datetime.fromisoformat(lease)
    if expires != run.lease_expires_at:
        run = run.model_copy(update={"lease_expires_at": expires})
    return run


def event_doc(event: RunEvent, version: int, token: str) -> Doc:
    return {"run_id": event.run_id, "version": version, "body": event.model_dump_json(), "token": token}


def active_values() -> list[str]:
    return sorted(state.value for state in ACTIVE)


class FirestoreDocs:
    """The collections of one launchq deployment in one Firestore database.

    ``client`` is injected (tests point one at the emulator); None builds one from the
    environment (project, credentials, ``FIRESTORE_EMULATOR_HOST``).
    """

    def __init__(self, client: Client | None = None, prefix: str = "launchq") -> None:
        self.sdk = import_sdk("google.cloud.firestore", "google-cloud-firestore")
        with self.call("connecting to Firestore"):
            self.client: Client = client if client is not None else self.sdk.Client()
        self.prefix = prefix

    @staticmethod
    @contextmanager
    def call(action: str, field: str | None = None) -> Iterator[None]:
        """Translate the SDK's errors raised in the block (``launchq.gcp.errors``)."""
        with gcp_call(action, TABLE, field=field):
            yield

    def collection(self, kind: str) -> CollectionReference:
        return self.client.collection(f"{self.prefix}_{kind}")

    def where(self, query: Any, field: str, op: str, value: object) -> Query:
        """``query`` narrowed by one field filter."""
        narrowed: Query = query.where(filter=self.sdk.FieldFilter(field, op, value))
        return narrowed

    def runs_of(self, queue: str, *states: RunState) -> Query:
        """The runs of ``queue`` in ``states`` (one: ``==``, several: ``in``)."""
        query = self.where(self.collection("runs"), "queue", "==", queue)
        if len(states) == 1:
            return self.where(query, "state", "==", states[0].value)
        return self.where(query, "state", "in", sorted(state.value for state in states))

    def line(self, queue: str) -> Query:
        """The queue's line: its queued runs by priority, then seq (then id, for equal seqs)."""
        query = self.runs_of(queue, RunState.QUEUED).order_by("priority").order_by("seq")
        ordered: Query = query.order_by("__name__")
        return ordered

    def count(self, query: Query, action: str) -> int:
        """The number of documents ``query`` matches (one aggregation, no documents read)."""
        counting: Any = query.count()  # the SDK's stubs type ``get`` as unbound here
        with self.call(action):
            result = counting.get()
        return int(result[0][0].value)

    def get(self, kind: str, doc_id: str, action: str) -> Doc | None:
        """The fields of one document; None when it does not exist."""
        with self.call(action):
            snapshot: DocumentSnapshot = self.collection(kind).document(doc_id).get()
        return snapshot.to_dict() if snapshot.exists else None

    def create_named(self, kind: str, what: str, name: str, fields: Doc) -> None:
        """Create the document of ``what`` (a queue, a schedule) ``name``.

        Raises AlreadyExists (field ``name``) when that name is taken."""
        ref = self.collection(kind).document(quoted(name))
        try:
            with self.call(f"creating {what} {name!r}"):
                ref.create(fields)
        except AlreadyExists:
            raise AlreadyExists(f"{what} {name!r} already exists", field="name") from None

    def get_named(self, kind: str, what: str, name: str) -> Doc:
        """The fields of ``what`` ``name``. Raises NotFound (field ``what``) when there is none."""
        found = self.get(kind, quoted(name), f"reading a {what}")
        if found is None:
            raise NotFound(f"{what} {name!r} does not exist", field=what)
        return found

    def stream(self, query: Any, action: str) -> list[Doc]:
        """The fields of every document ``query`` matches, in its order."""
        with self.call(action):
            return [snapshot.to_dict() or {} for snapshot in query.stream()]
