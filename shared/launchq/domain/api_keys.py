"""API keys: what a key is, how its secret is made, stored and checked, and what each role may do.

A key reads ``lq_<key id>_<secret>``. The id (public, 12 hex characters) is how the store finds
the record; the secret is 32 random bytes (256 bits, ``secrets.token_urlsafe``). Only the
secret's SHA-256 is stored. A slow password hash (bcrypt, scrypt, argon2) exists to make
guessing a *low-entropy* secret expensive; a 256-bit random secret cannot be guessed at any
speed, so a fast hash is enough and every request stays cheap (bcrypt would cost ~100 ms of CPU
per request and truncates input at 72 bytes). The stored hash and the presented secret's hash
are compared with ``hmac.compare_digest``, so the comparison takes the same time wherever they
differ.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from launchq.domain.models import Name
from launchq.errors import AlreadyExists, NotFound

KEY_PREFIX = "lq"
SECRET_BYTES = 32
_KEY_ID = re.compile(r"^[0-9a-f]{12}$")
_TOKEN = re.compile(r"^lq_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class Role(StrEnum):
    """What a key may do within its entity, each role including the one before it."""

    READ = "read"
    """GET only: queues, runs, logs, schedules, jobs."""
    SUBMIT = "submit"
    """read + enqueue, stop and replay runs, upload code, and the agent routes."""
    ADMIN = "admin"
    """everything in the entity: queues, schedules, jobs and keys too."""

    def allows(self, needed: Role) -> bool:
        order = [Role.READ, Role.SUBMIT, Role.ADMIN]
        return order.index(self) >= order.index(needed)


class ApiKey(BaseModel):
    """One key as the store keeps it: never the secret, only its SHA-256 (``hash``)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(pattern=_KEY_ID.pattern)
    entity: Name
    role: Role
    hash: str = Field(pattern=r"^[0-9a-f]{64}$", repr=False)
    name: str = Field(default="", max_length=200)
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def matches(self, secret: str) -> bool:
        """Whether ``secret`` is this key's, compared in constant time."""
        return hmac.compare_digest(self.hash, hash_secret(secret))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_key_id(value: str) -> bool:
    return _KEY_ID.match(value) is not None


def new_api_key(entity: str, role: Role, name: str, now: datetime) -> tuple[ApiKey, str]:
    """A fresh key record and the full key (``lq_<id>_<secret>``), which is shown once and never stored."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    record = ApiKey(id=key_id, entity=entity, role=role, hash=hash_secret(secret), name=name, created_at=now)
    return record, f"{KEY_PREFIX}_{key_id}_{secret}"


def parse_key(token: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of a well-formed key, else None (nothing about why: it is not a key)."""
    match = _TOKEN.match(token)
    return (match.group(1), match.group(2)) if match else None


def oldest_first(keys: Iterable[ApiKey]) -> list[ApiKey]:
    """The order every store lists keys in."""
    return sorted(keys, key=lambda key: (key.created_at, key.id))


def unknown_key(key_id: str) -> NotFound:
    """The one error every store raises for a key it does not hold."""
    return NotFound(f"API key {key_id!r} does not exist", field="key")


def key_taken(key_id: str) -> AlreadyExists:
    return AlreadyExists(f"API key {key_id!r} already exists", field="id")


def revoked(key: ApiKey, at: datetime) -> ApiKey:
    """``key`` revoked at ``at``, or unchanged when it already was (the first revoke's time stays)."""
    return key if key.revoked_at is not None else key.model_copy(update={"revoked_at": at})


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value (scheme case-insensitive), else None."""
    scheme, _, token = (header or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
