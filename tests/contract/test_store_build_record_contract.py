"""The RunStore contract for a run's build data, on every store (see conftest ``store``).

``Run.build`` is BuildOptions; ``build_id`` and ``image_uri`` are set through ``RunUpdate``
and survive later moves; the target's ``handle`` is set on its own. The persistent stores
(SQLite, DynamoDB) also load a run as the code before these fields stored it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from launchq.adapters.stores.dynamodb import DynamoRunStore, create_table
from launchq.adapters.stores.dynamodb_items import run_key
from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.domain.build_options import BuildOptions
from launchq.domain.models import Run, RunUpdate
from launchq.domain.states import RunState
from launchq.ports import RunStore
from tests.contract.conftest import MakeQueue, MakeRun, dynamodb_client

S = RunState
T0 = datetime(2030, 1, 1, tzinfo=UTC)
LEASE = T0 + timedelta(minutes=5)
IMAGE = "registry.test/team/train:0123abcd"


def test_build_options_and_build_record_round_trip(
    store: RunStore, make_queue: MakeQueue, new_run: MakeRun
) -> None:
    # GIVEN a run whose build options came in as a dict
    make_queue("gpu")
    base = new_run("gpu").model_dump(mode="json")
    run = Run.model_validate(base | {"build": {"platform": "linux/arm64", "python_version": "3.12"}})
    options = BuildOptions(platform="linux/arm64", python_version="3.12")
    # WHEN it is stored and read back  THEN the options are BuildOptions, unchanged
    stored, _ = store.add_run(run)
    assert isinstance(store.get_run(run.id).build, BuildOptions)
    assert store.get_run(run.id).build == stored.build == options
    # WHEN the build's image, then its id, then the target's handle are recorded by moves
    store.claim("gpu", T0, LEASE)
    store.transition(run.id, S.CLAIMED, S.BUILDING, "building", T0, RunUpdate(image_uri=IMAGE))
    store.transition(run.id, S.BUILDING, S.BUILDING, "started", T0, RunUpdate(build_id="b-1"))
    starting = store.transition(
        run.id, S.BUILDING, S.STARTING, "submitted", T0, RunUpdate(handle={"job": "j-1"}, clear_lease=True)
    )
    # THEN each is kept by the later moves, and the handle holds only the target's keys
    for read in (starting, store.get_run(run.id), *store.list_runs(states=[S.STARTING])):
        assert (read.build_id, read.image_uri, read.handle) == ("b-1", IMAGE, {"job": "j-1"})
        assert read.build == options


# -- runs stored before build_id and image_uri were fields ------------------------------------

Rewrite = Callable[[str, dict[str, Any]], None]


@pytest.fixture(params=["sqlite", "dynamodb"])
def persisted(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[RunStore, Rewrite]]:
    """A persistent store, and a way to overwrite a run's stored body as older code wrote it."""
    if request.param == "sqlite":
        path = tmp_path / "launchq.db"
        sqlite_store = SqliteRunStore(path)

        def rewrite_row(run_id: str, body: dict[str, Any]) -> None:
            with sqlite3.connect(path) as conn:
                conn.execute("UPDATE runs SET body = ? WHERE id = ?", (json.dumps(body), run_id))

        yield sqlite_store, rewrite_row
        sqlite_store.close()
        return
    client = dynamodb_client(request.getfixturevalue("dynamodb_url"))
    table = f"launchq-{uuid4().hex}"
    create_table(client, table)

    def rewrite_item(run_id: str, body: dict[str, Any]) -> None:
        client.update_item(
            TableName=table,
            Key=run_key(run_id),
            UpdateExpression="SET body = :body",
            ExpressionAttributeValues={":body": {"S": json.dumps(body)}},
        )

    yield DynamoRunStore(table, client), rewrite_item
    client.delete_table(TableName=table)


def test_a_run_stored_by_older_code_loads_with_its_build_record_moved_out_of_the_handle(
    persisted: tuple[RunStore, Rewrite], new_queue: MakeQueue, new_run: MakeRun
) -> None:
    # GIVEN a starting run stored as before: build options a dict, launchq's keys in the handle
    store, rewrite = persisted
    store.create_queue(new_queue("gpu"))
    run, _ = store.add_run(new_run("gpu"))
    store.claim("gpu", T0, LEASE)
    store.transition(run.id, S.CLAIMED, S.BUILDING, "building", T0)
    current = store.transition(run.id, S.BUILDING, S.STARTING, "submitted", T0, RunUpdate(clear_lease=True))
    old = {k: v for k, v in current.model_dump(mode="json").items() if k not in ("build_id", "image_uri")}
    old |= {
        "build": {"platform": "linux/arm64"},
        "handle": {"build_id": "b-1", "image_uri": IMAGE, "job": "j"},
    }
    rewrite(run.id, old)
    # WHEN it is read, listed and moved on
    loaded = store.get_run(run.id)
    (listed,) = store.list_runs(states=[S.STARTING])
    running = store.transition(run.id, S.STARTING, S.RUNNING, "running", T0)
    # THEN launchq's keys are the run's fields, the handle is the target's, the options typed
    for read in (loaded, listed, running, store.get_run(run.id)):
        assert (read.build_id, read.image_uri, read.handle) == ("b-1", IMAGE, {"job": "j"})
        assert read.build == BuildOptions(platform="linux/arm64")
