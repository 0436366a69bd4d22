"""The API-key part of ``MemoryRunStore``: keys in a dictionary under the store's lock."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from launchq.domain.api_keys import ApiKey, key_taken, oldest_first, revoked, unknown_key

if TYPE_CHECKING:
    from datetime import datetime


class MemoryKeys:
    """The ``RunStore`` API-key methods held in memory (``ApiKey`` is frozen: nothing to copy)."""

    _lock: threading.Lock

    @property
    def _keys(self) -> dict[str, ApiKey]:
        # made on first use, so the store's own __init__ needs no change
        keys: dict[str, ApiKey] = self.__dict__.setdefault("_api_keys", {})
        return keys

    def add_api_key(self, key: ApiKey) -> None:
        with self._lock:
            if key.id in self._keys:
                raise key_taken(key.id)
            self._keys[key.id] = key

    def get_api_key(self, key_id: str) -> ApiKey:
        with self._lock:
            try:
                return self._keys[key_id]
            except KeyError:
                raise unknown_key(key_id) from None

    def list_api_keys(self, entity: str | None = None) -> list[ApiKey]:
        with self._lock:
            keys = [k for k in self._keys.values() if entity is None or k.entity == entity]
        return oldest_first(keys)

    def revoke_api_key(self, key_id: str, at: datetime) -> ApiKey:
        with self._lock:
            if key_id not in self._keys:
                raise unknown_key(key_id)
            key = self._keys[key_id] = revoked(self._keys[key_id], at)
        return key
