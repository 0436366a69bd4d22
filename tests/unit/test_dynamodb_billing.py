"""The billing rules of ``dynamodb_billing`` against the examples AWS publishes with them."""

from __future__ import annotations

from launchq.adapters.stores.dynamodb_billing import (
    Index,
    billed_write,
    index_write_units,
    item_size,
    number_size,
    read_units,
    usd_per_million_runs,
    value_size,
    write_units,
)

KEYS = ("PK", "SK")
BY_QUEUE = Index("by_queue", "bq", "seq")


def test_item_size_is_names_plus_values_by_the_published_formulas() -> None:
    # strings: name bytes + UTF-8 bytes; numbers: 1 byte per two significant digits + 1
    assert item_size({"name": {"S": "Zoë"}}) == 4 + 4
    assert number_size("2099") == 3
    assert number_size("-0.00120") == 2  # zeros trimmed: "12" is one byte, + 1
    assert number_size("12345") == 4
    # null and boolean: 1 byte; list and map: 3 bytes + 1 per element
    assert item_size({"ok": {"BOOL": True}, "no": {"NULL": True}}) == 3 + 3
    assert value_size({"L": [{"S": "ab"}, {"N": "7"}]}) == 3 + (1 + 2) + (1 + 2)
    assert value_size({"M": {"k": {"S": "v"}}}) == 3 + 1 + 1 + 1
    assert value_size({"L": []}) == 3
    # a whole item: the sum over its attributes (an item the size tools quote as 141 bytes)
    slot = {
        "itemType": {"S": "SLOT"},
        "id": {"S": "abc1231"},
        "hostName": {"S": "Harry Mason"},
        "timeSlot": {"S": "February 23, 1999"},
        "slotStatus": {"S": "OPEN"},
        "createdAt": {"S": "February 1, 1999"},
        "updatedAt": {"S": "February 1, 1999"},
        "expiresAt": {"N": "2099"},
    }
    assert item_size(slot) == 141


def test_write_units_are_per_started_kilobyte_and_double_in_a_transaction() -> None:
    # "a standard write request of a 1 KB item ... one unit, of a 3 KB item three, a
    # transactional write request of a 3 KB item six" (on-demand pricing page)
    assert write_units(1024) == 1
    assert write_units(3 * 1024) == 3
    assert write_units(3 * 1024, transactional=True) == 6
    assert write_units(1025) == 2
    assert write_units(0) == 1  # a write of nothing (a failed condition on a missing item) still costs


def test_read_units_are_per_started_4_kb_halved_when_eventually_consistent() -> None:
    # "reading a 3,500-byte item consumes the same throughput as reading a 4 KB item"; an
    # 8 KB item: 2 strongly consistent, 1 eventually consistent, 4 transactional
    assert read_units(3500) == 1.0
    assert (read_units(8192), read_units(8192, consistent=False)) == (2.0, 1.0)
    assert read_units(8192, transactional=True) == 4.0
    # BatchGetItem of 1.5 KB and 6.5 KB items is 12 KB, not 8: each item rounds on its own
    assert read_units(1536) + read_units(6656) == 3.0


def test_an_update_is_billed_by_the_larger_of_before_and_after() -> None:
    small = {"PK": {"S": "a"}, "SK": {"S": "b"}}
    big = {**small, "body": {"S": "x" * 1500}}
    assert billed_write(big, small, [], KEYS) == 2
    assert billed_write(small, big, [], KEYS) == 2
    assert billed_write(small, small, [], KEYS, transactional=True) == 2


def test_index_writes_follow_whether_the_item_enters_leaves_or_moves_in_the_index() -> None:
    plain = {"PK": {"S": "RUN#1"}, "SK": {"S": "RUN"}, "seq": {"N": "1"}}
    listed = {**plain, "bq": {"S": "QUEUE#gpu"}}
    moved = {**plain, "bq": {"S": "QUEUE#cpu"}}
    # not in the index before nor after: nothing; enters or leaves: one write
    assert index_write_units(plain, plain, BY_QUEUE, KEYS) == 0
    assert index_write_units(plain, listed, BY_QUEUE, KEYS) == 1
    assert index_write_units(listed, None, BY_QUEUE, KEYS) == 1
    # "changes the value of an indexed key attribute (from A to B), two writes are required"
    assert index_write_units(listed, moved, BY_QUEUE, KEYS) == 2
    # a keys-only index does not see a change of another attribute
    assert index_write_units(listed, {**listed, "state": {"S": "running"}}, BY_QUEUE, KEYS) == 0
    # an index projecting that attribute is written once, under the same key
    with_state = Index("with_state", "bq", "seq", projection=("state",))
    assert index_write_units(listed, {**listed, "state": {"S": "running"}}, with_state, KEYS) == 1
    # the item write and its index writes add up; a failed condition writes no index
    assert billed_write(plain, listed, [BY_QUEUE], KEYS, transactional=True) == 2 + 1
    assert billed_write(plain, listed, [BY_QUEUE], KEYS, failed=True) == 1


def test_dollars_per_million_runs_use_the_published_on_demand_prices() -> None:
    # us-east-1: $0.625 per million write request units, $0.125 per million read request units
    assert usd_per_million_runs(12, 8) == 12 * 0.625 + 8 * 0.125
