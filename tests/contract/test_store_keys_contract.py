"""The RunStore API-key contract, run against every store adapter (conftest ``store``).

A key is found by its id with its entity, role and hash as stored (never its secret); a
revoke is seen by the next read, keeps its first time, and never loses the record; listing
is oldest first and can be narrowed to one entity; an id is stored once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from launchq.domain.api_keys import ApiKey, Role, new_api_key, parse_key
from launchq.errors import AlreadyExists, NotFound
from launchq.ports import RunStore

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def add(store: RunStore, entity: str, role: Role, minute: int = 0, name: str = "") -> tuple[ApiKey, str]:
    key, token = new_api_key(entity, role, name, T0 + timedelta(minutes=minute))
    store.add_api_key(key)
    return key, token


def test_a_key_reads_back_as_stored_and_its_secret_matches_only_itself(store: RunStore) -> None:
    # GIVEN a key stored for entity "team-a" with the submit role
    key, token = add(store, "team-a", Role.SUBMIT, name="ci")
    # WHEN it is read back by its id
    got = store.get_api_key(key.id)
    # THEN every field is as stored, and the token's secret (not stored) matches its hash
    assert got == key
    assert (got.entity, got.role, got.name, got.revoked_at) == ("team-a", Role.SUBMIT, "ci", None)
    parsed = parse_key(token)
    assert parsed is not None
    assert parsed[0] == key.id
    assert got.matches(parsed[1])
    assert not got.matches(parsed[1][:-1] + ("A" if parsed[1][-1] != "A" else "B"))
    assert parsed[1] not in got.model_dump_json()


def test_an_unknown_key_is_not_found(store: RunStore) -> None:
    with pytest.raises(NotFound) as caught:
        store.get_api_key("0123456789ab")
    assert caught.value.field == "key"
    with pytest.raises(NotFound):
        store.revoke_api_key("0123456789ab", T0)


def test_an_id_is_stored_once(store: RunStore) -> None:
    # GIVEN a stored key
    key, _ = add(store, "team-a", Role.READ)
    # WHEN another record with the same id is added
    twin = key.model_copy(update={"entity": "team-b", "role": Role.ADMIN})
    # THEN it is refused and the first one is untouched
    with pytest.raises(AlreadyExists):
        store.add_api_key(twin)
    assert store.get_api_key(key.id) == key


def test_a_revoke_is_read_at_once_and_keeps_its_first_time(store: RunStore) -> None:
    # GIVEN a stored key
    key, _ = add(store, "team-a", Role.ADMIN)
    # WHEN it is revoked, then revoked again later
    first = store.revoke_api_key(key.id, T0 + timedelta(hours=1))
    again = store.revoke_api_key(key.id, T0 + timedelta(hours=2))
    # THEN the next read shows it revoked at the first time, everything else unchanged
    got = store.get_api_key(key.id)
    assert got.revoked_at == first.revoked_at == again.revoked_at == T0 + timedelta(hours=1)
    assert got.model_copy(update={"revoked_at": None}) == key
    # AND it is still listed (an audit trail), marked revoked
    assert [k.id for k in store.list_api_keys() if k.revoked] == [key.id]


def test_listing_is_oldest_first_and_narrows_to_one_entity(store: RunStore) -> None:
    # GIVEN keys of two entities, made at different times, not in time order
    b1, _ = add(store, "team-b", Role.READ, minute=3)
    a1, _ = add(store, "team-a", Role.READ, minute=1)
    a2, _ = add(store, "team-a", Role.ADMIN, minute=2)
    # WHEN they are listed, all and per entity
    # THEN the order is by creation time and the entity filter keeps only its own
    assert [k.id for k in store.list_api_keys()] == [a1.id, a2.id, b1.id]
    assert [k.id for k in store.list_api_keys("team-a")] == [a1.id, a2.id]
    assert [k.id for k in store.list_api_keys("team-b")] == [b1.id]
    assert store.list_api_keys("team-c") == []
