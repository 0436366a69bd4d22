"""A run's build data, typed all the way: ``Run.build`` is BuildOptions, and launchq's own
``build_id`` and ``image_uri`` are fields of the run, not keys of the target's handle.

The build state machine runs on the package's fakes (fake builder, registry and target)
over the memory and the SQLite store; a run stored before the change (build options as a
dict, ``build_id``/``image_uri`` in the handle) is written into SQLite as the old code
wrote it, and must carry on where it was.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from launchq.adapters.stores.memory import MemoryRunStore
from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.build.options import BuildOptions as ReExported
from launchq.domain.build_options import AcceleratorOptions, BuildOptions
from launchq.domain.models import Run
from launchq.domain.states import RunState
from launchq.ports import RunStore
from launchq.service.state_changes import waits_on_build
from tests.unit.build_world import World

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CUDA = "nvidia/cuda:12.4.1-runtime-ubuntu22.04"


def run_body(**fields: Any) -> dict[str, Any]:
    """A run as stored JSON, with ``fields`` set."""
    body: dict[str, Any] = {
        "id": "r1",
        "queue": "q",
        "entity": "local",
        "spec": {"uri": "/src", "entry_point": ["python", "train.py"]},
        "created_at": NOW.isoformat(),
        "updated_at": NOW.isoformat(),
    }
    return body | fields


def old_format(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as the code before typed build fields stored it: build options dumped without
    their defaults, launchq's ``build_id`` and ``image_uri`` mixed into the target's handle."""
    old = {k: v for k, v in body.items() if k not in ("build_id", "image_uri")}
    old["build"] = BuildOptions.model_validate(body["build"]).model_dump(mode="json", exclude_defaults=True)
    ours = {key: body[key] for key in ("build_id", "image_uri") if body.get(key) is not None}
    old["handle"] = {**body["handle"], **ours}
    return old


# -- the model ------------------------------------------------------------------------------


def test_build_options_given_as_a_dict_are_validated_into_the_model() -> None:
    # GIVEN a stored run whose build options are JSON  WHEN it is loaded
    run = Run.model_validate_json(json.dumps(run_body(build={"accelerator": {"base_image": CUDA}})))
    # THEN they are BuildOptions (the same class launchq.build.options offers), defaults filled in
    assert ReExported is BuildOptions
    assert isinstance(run.build, BuildOptions)
    assert run.build == BuildOptions(accelerator=AcceleratorOptions(base_image=CUDA))
    assert run.build.with_default_platform(None).platform == "linux/amd64"
    # AND a run without build options has the defaults, not a shared instance
    assert Run.model_validate(run_body()).build == BuildOptions()
    assert Run.model_validate(run_body()).build is not Run.model_validate(run_body()).build
    # AND a dict that is not valid build options is refused, naming the key under build
    with pytest.raises(ValidationError) as caught:
        Run.model_validate(run_body(build={"python_version": "2.7"}))
    assert caught.value.errors()[0]["loc"] == ("build", "python_version")


def test_an_old_run_loads_with_build_id_and_image_uri_moved_out_of_the_handle() -> None:
    # GIVEN a run stored by the code before the fields: launchq's keys in the target's handle
    stored = run_body(
        state="starting",
        build={"platform": "linux/arm64"},
        handle={"build_id": "proj:1", "image_uri": "reg.test/train:abc", "job": "j-1"},
    )
    # WHEN it is loaded
    run = Run.model_validate_json(json.dumps(stored))
    # THEN they are the run's fields, and the handle holds only what the target wrote
    assert (run.build_id, run.image_uri, run.handle) == ("proj:1", "reg.test/train:abc", {"job": "j-1"})
    assert run.build == BuildOptions(platform="linux/arm64")
    # AND what is stored from now on loads back the same
    assert Run.model_validate_json(run.model_dump_json()) == run
    # AND the input was not changed in place
    assert stored["handle"] == {"build_id": "proj:1", "image_uri": "reg.test/train:abc", "job": "j-1"}


def test_the_handle_migration_moves_only_launchqs_keys_and_never_overwrites_a_field() -> None:
    # GIVEN only one of the keys in the handle  THEN only that one moves
    run = Run.model_validate(run_body(handle={"image_uri": "reg.test/a:1", "pgid": "7"}))
    assert (run.build_id, run.image_uri, run.handle) == (None, "reg.test/a:1", {"pgid": "7"})
    # GIVEN a field already set and a stale copy in the handle  THEN the field wins, the copy goes
    run = Run.model_validate(run_body(build_id="new", handle={"build_id": "old", "job": "j"}))
    assert (run.build_id, run.handle) == ("new", {"job": "j"})
    # GIVEN a handle without them  THEN it is left exactly as it was
    run = Run.model_validate(run_body(handle={"training_job_name": "t", "region": "eu-west-1"}))
    assert (run.build_id, run.image_uri) == (None, None)
    assert run.handle == {"training_job_name": "t", "region": "eu-west-1"}


# -- the build flow, on each store ----------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunStore]:
    if request.param == "memory":
        yield MemoryRunStore()
        return
    sqlite_store = SqliteRunStore(tmp_path / "launchq.db")
    yield sqlite_store
    sqlite_store.close()


def test_the_builder_block_is_typed_on_the_run_and_read_by_the_build(tmp_path: Path, store: RunStore) -> None:
    # GIVEN a run whose resource args carry a builder block
    world = World(tmp_path, store, asynchronous=False)
    run = world.enqueue({"platform": "linux/arm64", "python_version": "3.12"})
    # THEN the run (as stored) has it as BuildOptions, and the target's args do not
    stored = world.svc.runs.get(run.id)
    assert stored.build == BuildOptions(platform="linux/arm64", python_version="3.12")
    assert "builder" not in stored.resolved
    # WHEN it is dispatched  THEN the build was planned with those options
    world.svc.dispatcher.dispatch("q")
    (plan,) = world.builder.plans.values()
    assert plan.platform == "linux/arm64"
    # AND a run without a block builds for the default platform
    world.enqueue()
    world.svc.dispatcher.dispatch("q")
    assert [p.platform for p in world.builder.plans.values()] == ["linux/arm64", "linux/amd64"]


def test_an_asynchronous_build_keeps_its_id_and_image_on_the_run_not_in_the_handle(
    tmp_path: Path, store: RunStore
) -> None:
    # GIVEN a run from code, dispatched to a builder that builds asynchronously
    world = World(tmp_path, store, asynchronous=True)
    building, build_id, image = world.dispatch_first()
    # THEN the stored run is building with the build's id and image, the handle untouched
    assert (building.state, building.build_id, building.image_uri) == (RunState.BUILDING, build_id, image)
    assert building.handle == {}
    assert waits_on_build(building, build_id)
    # AND the build log is reached through the run's build id
    assert f"building {image}" in world.svc.runs.logs(building.id, source="build")[1]
    # WHEN the build ends and the reconciler follows it
    world.builder.finish(build_id)
    world.svc.reconciler.poll_builds()
    # THEN the run starts on the image; the target saw and wrote only its own handle
    started = world.svc.runs.get(building.id)
    assert (started.state, started.build_id, started.image_uri) == (RunState.STARTING, build_id, image)
    assert started.handle == {"job": building.id}
    assert world.target.submitted[building.id].handle == {}
    assert world.target.submitted[building.id].spec.docker_image == image


def test_a_synchronous_build_and_a_registry_hit_record_the_image_on_the_run(
    tmp_path: Path, store: RunStore
) -> None:
    # GIVEN a builder that builds within the dispatch
    world = World(tmp_path, store, asynchronous=False)
    started, build_id, image = world.dispatch_first()
    # THEN the started run keeps the build's id (its log stays reachable) and image
    assert (started.state, started.build_id, started.image_uri) == (RunState.STARTING, build_id, image)
    assert started.handle == {"job": started.id}
    # WHEN the same code runs again  THEN the image is found, not built: no build id, the image
    second = world.enqueue()
    world.svc.dispatcher.dispatch("q")
    again = world.svc.runs.get(second.id)
    assert (again.state, again.build_id, again.image_uri) == (RunState.STARTING, None, image)
    assert again.handle == {"job": second.id}
    assert world.svc.runs.logs(second.id, source="build")[1] == ""
    assert len(world.builder.plans) == 1


def test_a_run_stored_building_by_the_old_code_is_followed_to_starting(tmp_path: Path) -> None:
    # GIVEN a run building asynchronously, as the code before typed build fields stored it
    db = tmp_path / "launchq.db"
    store = SqliteRunStore(db)
    try:
        world = World(tmp_path, store, asynchronous=True)
        run, build_id, image = world.dispatch_first({"python_version": "3.12"})
        # (the whole run in body, the columns of today's layout "as in body", as the migration
        # of such a file leaves them)
        old = old_format(json.loads(store.get_run(run.id).model_dump_json()))
        with sqlite3.connect(db) as conn:
            conn.execute(
                "UPDATE runs SET body = ?, build_id = NULL, image_uri = NULL, handle = NULL, resolved = NULL"
                " WHERE id = ?",
                (json.dumps(old), run.id),
            )
        assert old["handle"] == {"build_id": build_id, "image_uri": image}
        assert "build_id" not in old
        assert old["build"] == {"python_version": "3.12"}
        # WHEN it is read  THEN launchq's keys are the run's fields again
        loaded = world.svc.runs.get(run.id)
        assert (loaded.build_id, loaded.image_uri, loaded.handle) == (build_id, image, {})
        assert loaded.build == BuildOptions(python_version="3.12")
        # WHEN its build ends and the build's state change arrives
        world.builder.finish(build_id)
        result = world.svc.state_changes.on_build_state_change(run.id, build_id, "ready")
        # THEN the run is resumed onto the image, and stored in the new shape
        assert result.outcome == "resumed"
        started = world.svc.runs.get(run.id)
        assert (started.state, started.build_id, started.handle) == (
            RunState.STARTING,
            build_id,
            {"job": run.id},
        )
        assert world.target.submitted[run.id].spec.docker_image == image
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT handle, build_id FROM runs WHERE id = ?", (run.id,)).fetchone()
        assert (json.loads(row[0]), row[1]) == ({"job": run.id}, build_id)
    finally:
        store.close()
