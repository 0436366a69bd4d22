"""API keys: make, list, revoke, and tell who a presented key belongs to.

Used by the ``/keys`` routes, the auth middleware (``launchq.api.auth``), the AWS authorizer
(``launchq.aws.authorizer``) and ``launchq keys create --data-dir`` (the first key, made on the
store itself). Every check reads the store: a revoke is effective on the next request, in any
process, with no cache to invalidate.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from launchq.domain.api_keys import ApiKey, Role, is_key_id, new_api_key, parse_key, unknown_key
from launchq.domain.models import Name
from launchq.errors import InvalidInput, NotFound
from launchq.ports import RunStore
from launchq.service.context import utcnow


class KeyCreate(BaseModel):
    """``POST /keys``: the entity defaults to the caller's own (required without auth)."""

    model_config = ConfigDict(extra="forbid")

    entity: Name | None = None
    role: Role
    name: str = Field(default="", max_length=200, description="a note to tell keys apart")


class KeyService:
    """The keys of one store."""

    def __init__(self, store: RunStore, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock

    def create(self, entity: str, role: Role, name: str = "") -> tuple[ApiKey, str]:
        """A new key: its record, and the full key to hand over once (it is not kept)."""
        record, token = new_api_key(entity, role, name, self.clock())
        self.store.add_api_key(record)
        return record, token

    def list(self, entity: str | None = None) -> list[ApiKey]:
        return self.store.list_api_keys(entity)

    def revoke(self, key_id: str, entity: str | None = None) -> ApiKey:
        """Revoke ``key_id``; with ``entity``, only a key of that entity (another's is NotFound)."""
        if not is_key_id(key_id):  # never handed to a store (a Firestore id has rules of its own)
            raise unknown_key(key_id)
        key = self.store.get_api_key(key_id)
        if entity is not None and key.entity != entity:
            raise unknown_key(key_id)
        return self.store.revoke_api_key(key_id, self.clock())

    def authenticate(self, token: str) -> ApiKey | None:
        """The live key ``token`` is, else None (malformed, unknown, revoked or wrong secret alike)."""
        parsed = parse_key(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        try:
            key = self.store.get_api_key(key_id)
        except NotFound:
            return None
        return key if not key.revoked and key.matches(secret) else None

    def first_admin(self, entity: str, name: str = "") -> tuple[ApiKey, str]:
        """The first admin key of ``entity`` (``launchq keys create --data-dir``), made on the
        store itself: with auth on, nothing can be done through the API without a key.

        Raises InvalidInput once the entity has any key: from then on its keys are made through
        the API by its admins. (Whoever can write the data directory owns the store anyway.)"""
        if self.store.list_api_keys(entity):
            raise InvalidInput(
                f"entity {entity!r} has keys already: make more through the API with its admin key "
                "(LAUNCHQ_API_KEY=... launchq keys create)",
                field="--data-dir",
            )
        return self.create(entity, Role.ADMIN, name)
