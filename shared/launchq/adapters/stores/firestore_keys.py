"""The API-key part of the Firestore store: one document per key in ``<prefix>_api_keys``.

The document id is the key's public id; ``body`` is the ``ApiKey`` as JSON (its secret's
SHA-256, never the secret) and ``entity`` a field, so one entity's keys are one equality query.
A request's key is one document read, so a revoke is seen by the very next request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from launchq.domain.api_keys import ApiKey, key_taken, oldest_first, revoked, unknown_key
from launchq.errors import AlreadyExists, NotFound

if TYPE_CHECKING:
    from datetime import datetime

    from launchq.adapters.stores.firestore_docs import FirestoreDocs

KIND = "api_keys"


class FirestoreKeys:
    """The ``RunStore`` API-key methods; mixed into ``FirestoreRunStore``, which sets ``_docs``."""

    _docs: FirestoreDocs

    def add_api_key(self, key: ApiKey) -> None:
        try:
            with self._docs.call("storing an API key"):
                self._docs.collection(KIND).document(key.id).create(_fields(key))
        except AlreadyExists:
            raise key_taken(key.id) from None

    def get_api_key(self, key_id: str) -> ApiKey:
        found = self._docs.get(KIND, key_id, "reading an API key")
        if found is None:
            raise unknown_key(key_id)
        return ApiKey.model_validate_json(found["body"])

    def list_api_keys(self, entity: str | None = None) -> list[ApiKey]:
        docs = self._docs
        query = (
            docs.collection(KIND)
            if entity is None
            else docs.where(docs.collection(KIND), "entity", "==", entity)
        )
        return oldest_first(
            ApiKey.model_validate_json(doc["body"]) for doc in docs.stream(query, "listing API keys")
        )

    def revoke_api_key(self, key_id: str, at: datetime) -> ApiKey:
        current = self.get_api_key(key_id)
        done = revoked(current, at)
        if done is not current:
            try:
                with self._docs.call("revoking an API key"):
                    self._docs.collection(KIND).document(key_id).update(_fields(done))
            except NotFound:  # deleted between the read and the write
                raise unknown_key(key_id) from None
        return done


def _fields(key: ApiKey) -> dict[str, str]:
    return {"entity": key.entity, "body": key.model_dump_json()}
