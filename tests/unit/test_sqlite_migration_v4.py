"""Databases written by the version-4 and version-5 SQLite stores keep working in version 6.

Version 5 added the ``jobs`` table; version 6 keeps a run's events in its row (``history``)
and spills long histories into ``run_history`` chunks. The old files are written by
``sqlite_v5_file`` with version 5's own schema and statements (its triggers wrote the
events), version 4's without the ``jobs`` table. Opening one must keep every run and event
as written, rebuild nothing, and let runs carry on with their new events after the old.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.adapters.stores.sqlite_schema import SCHEMA_VERSION
from launchq.domain.jobs import JobSpec
from launchq.domain.states import RunState as S
from tests.unit.sqlite_v5_file import write_v5_database
from tests.unit.test_sqlite_migration import assert_todays_layout

T0 = datetime(2030, 1, 1, tzinfo=UTC)
T1 = datetime(2030, 1, 1, 0, 1, tzinfo=UTC)


def schema_objects(path: Path) -> dict[str, tuple[str, int]]:
    """Every table, index and trigger: its SQL and its first page (a rebuilt table moves)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name, sql, rootpage FROM sqlite_master WHERE sql IS NOT NULL")
        objects = {name: (sql, rootpage) for name, sql, rootpage in rows}
    conn.close()
    return objects


@pytest.mark.parametrize("with_jobs", [False, True], ids=["version-4", "version-5"])
def test_an_old_database_keeps_its_runs_and_events_and_carries_on(tmp_path: Path, with_jobs: bool) -> None:
    # GIVEN a database written by the version-4 or version-5 store
    path = tmp_path / "launchq.db"
    written = write_v5_database(path, with_jobs=with_jobs)
    before = schema_objects(path)
    # WHEN today's store opens it
    store = SqliteRunStore(path)
    try:
        # THEN it is today's version: the event triggers are gone, the spill trigger and
        # (for version 4) the jobs table are new, and nothing was rebuilt
        assert SCHEMA_VERSION == 9
        assert_todays_layout(path)
        after = schema_objects(path)
        assert set(before) - set(after) == {
            "runs_enqueued",
            "runs_moved",
            "runs_slots",
            "runs_enqueued_active",
            "runs_queued",
        }
        assert set(after) - set(before) == (
            {"runs_history_spill", "api_keys", "runs_in_line"} | (set() if with_jobs else {"jobs"})
        )
        assert after["runs"][1] == before["runs"][1]
        # AND every run and event reads back as written
        for run, moves in written.values():
            got = store.get_run(run.id)
            assert (got.id, got.spec, got.version) == (run.id, run.spec, len(moves))
            events = store.events(run.id)
            assert [(e.from_state, e.to_state, e.reason) for e in events] == moves
            assert {e.run_id for e in events} == {run.id}
        started = next(store.get_run(run_id) for run_id, (_, moves) in written.items() if len(moves) == 3)
        assert (started.state, started.handle) == (S.STARTING, {"pid": "42"})
        # AND a run moves on, its new events after its old ones
        store.transition(started.id, S.STARTING, S.RUNNING, "job is running", T1)
        store.transition(started.id, S.RUNNING, S.FINISHED, "exit 0", T1)
        events = store.events(started.id)
        assert [e.reason for e in events][-3:] == ["submitted", "job is running", "exit 0"]
        assert events[-1].at == T1
        assert store.get_run(started.id).version == 5
        # AND the queue's slot count still holds: the finished run freed its slot
        assert store.count_active("gpu") == 0
        # AND jobs can be created in it
        job = store.add_job_version(JobSpec.model_validate({"name": "train", "source": {"uri": "x"}}), T0)
        assert job.ref == "train:v1"
    finally:
        store.close()


def test_opening_a_migrated_database_again_changes_nothing(tmp_path: Path) -> None:
    # GIVEN a version-5 file opened (migrated) once
    path = tmp_path / "launchq.db"
    written = write_v5_database(path)
    SqliteRunStore(path).close()
    once = schema_objects(path)
    with sqlite3.connect(path) as conn:
        chunks = conn.execute("SELECT key, body FROM run_history ORDER BY key").fetchall()
    conn.close()
    # WHEN it is opened again  THEN nothing is migrated twice: same objects, same chunks
    store = SqliteRunStore(path)
    try:
        assert schema_objects(path) == once
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT key, body FROM run_history ORDER BY key").fetchall() == chunks
        conn.close()
        for run_id, (_, moves) in written.items():
            assert [(e.from_state, e.to_state, e.reason) for e in store.events(run_id)] == moves
    finally:
        store.close()


def test_opening_a_version_6_database_again_keeps_its_jobs(tmp_path: Path) -> None:
    # GIVEN a version-6 file holding two versions of a job
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
