"""The launch-jobs part of the SQLite store: the ``jobs`` table (``sqlite_schema``, version 5).

A version is one row keyed by (name, version), inserted once and never updated. A create
reads the name's highest version and inserts the next inside one ``BEGIN IMMEDIATE``
transaction: the write lock is taken before the read, so two creates (threads or
processes) cannot both read the same highest version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from launchq.adapters.stores.sqlite_connections import SqliteConnections
from launchq.domain.jobs import Job, JobSpec, load_job, stored_version, unknown_job

if TYPE_CHECKING:
    from datetime import datetime

_NEXT_VERSION = "SELECT COALESCE(MAX(version), 0) + 1 FROM jobs WHERE name = ?"
_INSERT = "INSERT INTO jobs (name, version, body) VALUES (?, ?, ?)"
_LATEST = "SELECT body FROM jobs WHERE name = ? ORDER BY version DESC LIMIT 1"
_VERSION = "SELECT body FROM jobs WHERE name = ? AND version = ?"
_VERSIONS = "SELECT body FROM jobs WHERE name = ? ORDER BY version DESC"
# SQLite takes a bare column of an aggregate query from the row holding the MAX
# (https://sqlite.org/lang_select.html#bareagg): one pass over the key, no self-join.
_LATEST_OF_EACH = "SELECT body, MAX(version) FROM jobs GROUP BY name ORDER BY name"


class SqliteJobs(SqliteConnections):
    """The ``RunStore`` launch-job methods on the store's SQLite file."""

    def add_job_version(self, spec: JobSpec, now: datetime) -> Job:
        with self._tx("IMMEDIATE") as conn:
            (version,) = conn.execute(_NEXT_VERSION, (spec.name,)).fetchone()
            job = stored_version(spec, int(version), now)
            conn.execute(_INSERT, (job.name, job.version, job.model_dump_json()))
        return job

    def get_job(self, name: str, version: int | None = None) -> Job:
        with self._tx() as conn:
            if version is None:
                row = conn.execute(_LATEST, (name,)).fetchone()
            else:
                row = conn.execute(_VERSION, (name, version)).fetchone()
                if row is None and conn.execute(_LATEST, (name,)).fetchone() is not None:
                    raise unknown_job(name, version)
        if row is None:
            raise unknown_job(name)
        return load_job(row[0])

    def list_jobs(self) -> list[Job]:
        with self._tx() as conn:
            rows = conn.execute(_LATEST_OF_EACH).fetchall()
        return [load_job(row[0]) for row in rows]

    def list_job_versions(self, name: str) -> list[Job]:
        with self._tx() as conn:
            rows = conn.execute(_VERSIONS, (name,)).fetchall()
        if not rows:
            raise unknown_job(name)
        return [load_job(row[0]) for row in rows]
