"""A database written by the version-4 SQLite store keeps working in version 5 (launch jobs).

Version 5 only adds the ``jobs`` table. The version-4 file is written by today's store and
then stripped of that table and marked version 4: what version 4 wrote, object for object.
Opening it must add the table and touch nothing else (no rebuild of ``runs``).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.adapters.stores.sqlite_schema import SCHEMA_VERSION
from launchq.domain.jobs import JobSpec
from launchq.domain.models import Run, RunEvent, RunUpdate
from launchq.domain.states import RunState as S
from tests.contract.conftest import build_queue, build_run
from tests.unit.test_sqlite_migration import assert_todays_layout

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def write_v4_database(path: Path) -> dict[str, tuple[Run, list[RunEvent]]]:
    """A version-4 file: a queue, a queued run and a started one whose handle is a column of
    its own (what a rebuild of ``runs`` from the bodies would lose), with their events."""
    store = SqliteRunStore(path)
    try:
        store.create_queue(build_queue("gpu", max_jobs=2))
        queued, _ = store.add_run(build_run("gpu", name="queued"))
        store.add_run(build_run("gpu", name="started"))
        claimed = store.claim("gpu", T0, T0 + timedelta(minutes=5))
        assert claimed is not None
        started = store.transition(
            claimed.id, S.CLAIMED, S.STARTING, "submitted", T0, RunUpdate(handle={"pid": "42"})
        )
        written = {run.id: (store.get_run(run.id), store.events(run.id)) for run in (queued, started)}
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE jobs")
        conn.execute("PRAGMA user_version = 4")
    conn.close()
    return written


def schema_objects(path: Path) -> dict[str, tuple[str, int]]:
    """Every table, index and trigger: its SQL and its first page (a rebuilt table moves)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name, sql, rootpage FROM sqlite_master WHERE sql IS NOT NULL")
        objects = {name: (sql, rootpage) for name, sql, rootpage in rows}
    conn.close()
    return objects


def test_a_version_4_database_gains_the_jobs_table_and_nothing_else_changes(tmp_path: Path) -> None:
    # GIVEN a database written by the version-4 store
    path = tmp_path / "launchq.db"
    written = write_v4_database(path)
    before = schema_objects(path)
    assert "jobs" not in before
    # WHEN today's store opens it
    store = SqliteRunStore(path)
    try:
        # THEN it is today's version, with the jobs table added and every other object as it was
        assert SCHEMA_VERSION == 5
        assert_todays_layout(path)
        after = schema_objects(path)
        assert {name: found for name, found in after.items() if name != "jobs"} == before
        assert set(after) - set(before) == {"jobs"}
        # AND the runs read back as written, and carry on
        for run, events in written.values():
            assert store.get_run(run.id) == run
            assert store.events(run.id) == events
        started = next(run for run, _ in written.values() if run.state is S.STARTING)
        assert started.handle == {"pid": "42"}
        store.transition(started.id, S.STARTING, S.RUNNING, "job is running", T0)
        assert store.get_run(started.id).version == started.version + 1
        # AND jobs can be created in it
        job = store.add_job_version(JobSpec.model_validate({"name": "train", "source": {"uri": "x"}}), T0)
        assert job.ref == "train:v1"
    finally:
        store.close()


def test_opening_a_version_5_database_again_keeps_its_jobs(tmp_path: Path) -> None:
    # GIVEN a version-5 file holding two versions of a job
    path = tmp_path / "launchq.db"
    first = SqliteRunStore(path)
    spec = JobSpec.model_validate({"name": "train", "source": {"docker_image": "python:3.11"}})
    made = [first.add_job_version(spec, T0), first.add_job_version(spec, T0)]
    first.close()
    # WHEN a store opens it again  THEN nothing is migrated and the versions are there
    again = SqliteRunStore(path)
    try:
        assert again.list_job_versions("train") == list(reversed(made))
        assert again.add_job_version(spec, T0).version == 3
    finally:
        again.close()
