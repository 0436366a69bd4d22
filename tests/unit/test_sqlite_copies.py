"""``sqlite_copies.detached``: each model class's compiled copy shares no mutable value
with the original and equals what pydantic's deep ``model_copy`` makes, for every kind of
field it tells apart (the run handed out by the SQLite store is one such copy)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr

from launchq.adapters.stores.sqlite_copies import detached, shallow


class Leaf(BaseModel):
    tags: list[str] = []
    data: dict[str, Any] = {}


class Branch(BaseModel):
    leaf: Leaf = Leaf()
    maybe: Leaf | None = None
    child: Branch | None = None  # a model nested in itself
    either: Leaf | list[Any] = []
    name: str = "b"


class BiggerLeaf(Leaf):
    more: list[int] = []


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")
    leaf: Leaf = Leaf()
    _note: dict[str, Any] = PrivateAttr(default_factory=dict)


def _tree() -> Branch:
    leaf = Leaf(tags=["a"], data={"deep": [{"x": 1}]})
    return Branch(
        leaf=leaf,
        maybe=BiggerLeaf(tags=["b"], more=[1]),  # a subclass kept as given
        child=Branch(leaf=Leaf(tags=["c"]), either=Leaf(data={"y": [2]})),
        either=[{"w": [3]}],
    )


def test_a_copy_equals_a_deep_model_copy_and_shares_nothing_mutable() -> None:
    tree = _tree()
    copied = detached(tree)
    assert copied == tree.model_copy(deep=True)
    assert type(copied.maybe) is BiggerLeaf
    # WHEN everything mutable in the copy is changed  THEN the original is as it was
    copied.leaf.tags.append("changed")
    copied.leaf.data["deep"][0]["x"] = 2
    assert isinstance(copied.maybe, BiggerLeaf)
    copied.maybe.more.append(2)
    assert copied.child is not None
    copied.child.leaf.tags.append("changed")
    assert isinstance(copied.child.either, Leaf)
    copied.child.either.data["y"].append(9)
    assert isinstance(copied.either, list)
    copied.either[0]["w"].append(9)
    assert tree == _tree()


def test_an_update_replaces_fields_and_is_not_copied_again() -> None:
    tree = _tree()
    mine = Leaf(tags=["mine"])
    copied = detached(tree, {"leaf": mine, "name": "new"})
    assert copied.leaf is mine
    assert copied.name == "new"
    assert {"leaf", "name"} <= copied.model_fields_set
    assert copied.child == tree.child
    assert copied.child is not tree.child


def test_extras_and_private_values_are_copied_too() -> None:
    opened = Open.model_validate({"leaf": {"tags": ["a"]}, "extra": {"k": [1]}})
    opened._note["n"] = [1]
    copied = detached(opened)
    assert copied.model_extra == {"extra": {"k": [1]}}
    assert copied._note == {"n": [1]}
    assert copied.model_extra is not None
    copied.model_extra["extra"]["k"].append(2)
    copied._note["n"].append(2)
    assert opened.model_extra == {"extra": {"k": [1]}}
    assert opened._note == {"n": [1]}
    # a shallow copy shares nested values but not its own field dictionary
    other = shallow(opened, {"leaf": Leaf()})
    assert other.leaf == Leaf()
    assert opened.leaf.tags == ["a"]
    assert other.model_extra == opened.model_extra
