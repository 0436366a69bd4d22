"""The API-key part of the SQLite store: the ``api_keys`` table (``sqlite_schema.API_KEYS_TABLE``, version 7).

One row per key, keyed by its public id; ``body`` is the ``ApiKey`` as JSON (its secret's
SHA-256, never the secret). A revoke is one conditional ``UPDATE`` of the row, so the next
request, in any process, reads it.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from launchq.adapters.stores.sqlite_connections import SqliteConnections
from launchq.domain.api_keys import ApiKey, key_taken, oldest_first, revoked, unknown_key

if TYPE_CHECKING:
    from datetime import datetime

_INSERT = "INSERT INTO api_keys (id, entity, body) VALUES (?, ?, ?)"
_GET = "SELECT body FROM api_keys WHERE id = ?"
_ALL = "SELECT body FROM api_keys"
_OF_ENTITY = "SELECT body FROM api_keys WHERE entity = ?"
_SAVE = "UPDATE api_keys SET body = ? WHERE id = ?"


def _loaded(rows: list[tuple[str]]) -> list[ApiKey]:
    return oldest_first(ApiKey.model_validate_json(row[0]) for row in rows)


class SqliteKeys(SqliteConnections):
    """The ``RunStore`` API-key methods on the store's SQLite file."""

    def add_api_key(self, key: ApiKey) -> None:
        try:
            with self._tx("IMMEDIATE") as conn:
                conn.execute(_INSERT, (key.id, key.entity, key.model_dump_json()))
        except sqlite3.IntegrityError as exc:
            raise key_taken(key.id) from exc

    def get_api_key(self, key_id: str) -> ApiKey:
        with self._tx() as conn:
            row = conn.execute(_GET, (key_id,)).fetchone()
        if row is None:
            raise unknown_key(key_id)
        return ApiKey.model_validate_json(row[0])

    def list_api_keys(self, entity: str | None = None) -> list[ApiKey]:
        with self._tx() as conn:
            rows = (
                conn.execute(_ALL).fetchall()
                if entity is None
                else conn.execute(_OF_ENTITY, (entity,)).fetchall()
            )
        return _loaded(rows)

    def revoke_api_key(self, key_id: str, at: datetime) -> ApiKey:
        with self._tx("IMMEDIATE") as conn:
            row = conn.execute(_GET, (key_id,)).fetchone()
            if row is None:
                raise unknown_key(key_id)
            key = revoked(ApiKey.model_validate_json(row[0]), at)
            conn.execute(_SAVE, (key.model_dump_json(), key_id))
        return key
