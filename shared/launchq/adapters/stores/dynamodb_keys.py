"""The API-key part of the DynamoDB store: one item per key, ``PK=APIKEYS``, ``SK=<key id>``.

The item holds the ``ApiKey`` as JSON in ``body`` (its secret's SHA-256, never the secret).
A request's key is one strongly consistent ``GetItem`` by id, so a revoke is seen by the very
next request in any Lambda. Listing is one Query over the partition (keys are few: tens, not
millions), filtered by entity here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from launchq.adapters.stores.dynamodb_items import ABSENT, EXISTS, s, text
from launchq.adapters.stores.dynamodb_items import key as item_key
from launchq.adapters.stores.dynamodb_table import ConditionFailed
from launchq.domain.api_keys import ApiKey, key_taken, oldest_first, revoked, unknown_key

if TYPE_CHECKING:
    from datetime import datetime

    from launchq.adapters.stores.dynamodb_table import DynamoTable

API_KEYS_PK = "APIKEYS"


class DynamoKeys:
    """The ``RunStore`` API-key methods, on the store's table (``_db``)."""

    _db: DynamoTable

    def add_api_key(self, key: ApiKey) -> None:
        try:
            self._db.put({**item_key(API_KEYS_PK, key.id), "body": s(key.model_dump_json())}, ABSENT)
        except ConditionFailed as exc:
            raise key_taken(key.id) from exc

    def get_api_key(self, key_id: str) -> ApiKey:
        item = self._db.get(item_key(API_KEYS_PK, key_id))
        if item is None:
            raise unknown_key(key_id)
        return ApiKey.model_validate_json(text(item, "body"))

    def list_api_keys(self, entity: str | None = None) -> list[ApiKey]:
        found = self._db.query("PK = :pk", {":pk": s(API_KEYS_PK)})
        keys = (ApiKey.model_validate_json(text(item, "body")) for item in found)
        return oldest_first(k for k in keys if entity is None or k.entity == entity)

    def revoke_api_key(self, key_id: str, at: datetime) -> ApiKey:
        current = self.get_api_key(key_id)
        done = revoked(current, at)
        if done is current:
            return current
        try:
            self._db.update(
                item_key(API_KEYS_PK, key_id),
                "SET body = :body",
                {":body": s(done.model_dump_json())},
                condition=EXISTS,
            )
        except ConditionFailed as exc:
            raise unknown_key(key_id) from exc
        return done
