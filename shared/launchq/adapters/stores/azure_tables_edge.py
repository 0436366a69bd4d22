"""The Azure Tables store's one edge to the SDK (``azure-data-tables``).

The store's other modules ask ``TablesEdge`` to read, write and transact entities and never
import ``azure`` themselves; every call runs inside ``launchq.azure.errors.azure_call``, so a
404 leaves as NotFound, a 409 as AlreadyExists, a 412 (an ETag that no longer matches) as
StaleWrite and anything else as BackendUnavailable. A failed entity group transaction is
the one answer translated here rather than there: a transaction that lost a race (an entity
it creates exists, one it changes moved or vanished) returns False so the caller reads
again; any other failure is BackendUnavailable. The SDK is imported when an edge is built,
never when this module loads.

Only what both Azure Storage tables and Cosmos DB's Table API serve is used: point reads,
``query_entities`` with parameterised filters, conditional (``IfNotModified``) writes and
entity group transactions inside one partition.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from itertools import islice
from typing import TYPE_CHECKING, Any

from launchq.adapters.stores.azure_tables_entities import TABLES, Entity, check_prefix, keys
from launchq.azure.errors import Translation, azure_call, import_sdk
from launchq.errors import AlreadyExists, NotFound, StaleWrite

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient

#: Single-entity answers the store expects; everything else is BackendUnavailable.
TABLE: dict[str, Translation] = {
    "ResourceNotFoundError": NotFound,
    "ResourceExistsError": AlreadyExists,
    "ResourceModifiedError": StaleWrite,
}

#: A transaction that lost a race: an entity it creates exists (409), one it changes or
#: deletes moved (412) or is gone (404).
_LOST = frozenset({404, 409, 412})

Op = tuple[Any, ...]


def etag(entity: Any) -> str:
    """The ETag an entity was read with (``TableEntity.metadata``)."""
    return str(entity.metadata["etag"])


class TablesEdge:
    """The tables of one deployment (``<prefix><kind>``) in one account."""

    def __init__(self, service: TableServiceClient, prefix: str) -> None:
        self.prefix = check_prefix(prefix)
        self._sdk = import_sdk("azure.data.tables", "azure-data-tables")
        self._core = import_sdk("azure.core", "azure-core")
        self._service = service
        self._clients: dict[str, TableClient] = {}

    @staticmethod
    @contextmanager
    def call(action: str, field: str | None = None) -> Iterator[None]:
        with azure_call(action, TABLE, field=field):
            yield

    def client(self, kind: str) -> TableClient:
        found = self._clients.get(kind)
        if found is None:
            found = self._clients[kind] = self._service.get_table_client(f"{self.prefix}{kind}")
        return found

    def ensure_tables(self) -> None:
        """Create every table that is missing (idempotent)."""
        for kind in TABLES:
            with self.call(f"creating table {self.prefix}{kind}"):
                self._service.create_table_if_not_exists(f"{self.prefix}{kind}")

    # -- single entities ----------------------------------------------------------------
    def get(self, kind: str, partition: str, row: str, action: str) -> Entity | None:
        """The entity (with its ETag in ``metadata``); None when there is none."""
        try:
            with self.call(action):
                found: Entity = self.client(kind).get_entity(partition, row)
        except NotFound:
            return None
        return found

    def create(self, kind: str, entity: Mapping[str, Any], action: str) -> None:
        """Raises AlreadyExists when the keys are taken."""
        with self.call(action):
            self.client(kind).create_entity(dict(entity))

    def upsert(self, kind: str, entity: Mapping[str, Any], action: str) -> None:
        with self.call(action):
            self.client(kind).upsert_entity(dict(entity), mode=self._sdk.UpdateMode.REPLACE)

    def replace(self, kind: str, entity: Mapping[str, Any], tag: str, action: str) -> None:
        """Replace the entity read with ETag ``tag``. Raises StaleWrite when it changed since,
        NotFound when it is gone."""
        with self.call(action):
            self.client(kind).update_entity(dict(entity), **self._replacing(tag))

    def delete(self, kind: str, partition: str, row: str, action: str, tag: str | None = None) -> None:
        """Delete the entity (only as read with ``tag`` when given: else StaleWrite); a
        missing one is fine when no ``tag`` is given."""
        condition = {} if tag is None else self._matching(tag)
        with self.call(action):
            self.client(kind).delete_entity(partition, row, **condition)

    # -- queries ------------------------------------------------------------------------
    def query(
        self,
        kind: str,
        where: str,
        params: Mapping[str, Any],
        action: str,
        select: list[str] | None = None,
    ) -> list[Entity]:
        """Every entity matching the parameterised filter ``where``, in key order."""
        with self.call(action):
            found = self.client(kind).query_entities(where, parameters=dict(params), select=select)
            return list(found)

    def head(self, kind: str, where: str, params: Mapping[str, Any], count: int, action: str) -> list[Entity]:
        """The first ``count`` entities matching ``where`` (one page of ``count``: a line's head
        costs one read however long the line is)."""
        with self.call(action):
            found = self.client(kind).query_entities(where, parameters=dict(params), results_per_page=count)
            return list(islice(found, count))

    # -- transactions -------------------------------------------------------------------
    def transact(self, kind: str, ops: list[Op], action: str) -> bool:
        """Commit ``ops`` as one entity group transaction (one partition, all or nothing).

        False when it lost a race (see the module doc); raises BackendUnavailable otherwise."""
        return self.transact_at(kind, ops, action) is None

    def transact_at(self, kind: str, ops: list[Op], action: str) -> int | None:
        """``transact``, saying which op lost: None when committed, else the index Azure gave
        for the failing op (0 when it gave none: callers put at 0 the op whose loss tells
        them least)."""
        with self.call(action):
            try:
                self.client(kind).submit_transaction(ops)
            except self._sdk.TableTransactionError as exc:
                if exc.status_code in _LOST:
                    return int(exc.index)
                raise
        return None

    @staticmethod
    def create_op(entity: Mapping[str, Any]) -> Op:
        return ("create", dict(entity))

    def upsert_op(self, entity: Mapping[str, Any]) -> Op:
        return ("upsert", dict(entity), {"mode": self._sdk.UpdateMode.REPLACE})

    def replace_op(self, entity: Mapping[str, Any], tag: str) -> Op:
        """Replace the entity as read with ETag ``tag`` (the whole entity: fewer parts leave none behind)."""
        return ("update", dict(entity), self._replacing(tag))

    def merge_op(self, entity: Mapping[str, Any], tag: str) -> Op:
        """Set the given properties of the entity as read with ETag ``tag``."""
        return ("update", dict(entity), {"mode": self._sdk.UpdateMode.MERGE, **self._matching(tag)})

    def delete_op(self, partition: str, row: str, tag: str | None = None) -> Op:
        condition = {} if tag is None else self._matching(tag)
        return ("delete", keys(partition, row), condition)

    def _replacing(self, tag: str) -> dict[str, Any]:
        return {"mode": self._sdk.UpdateMode.REPLACE, **self._matching(tag)}

    def _matching(self, tag: str) -> dict[str, Any]:
        return {"etag": tag, "match_condition": self._core.MatchConditions.IfNotModified}
