"""The schedules part of the SQLite store: the ``schedules`` table, one JSON body per name.

An advance is a read and a write inside one ``BEGIN IMMEDIATE`` transaction (the write
lock taken before the read), so two triggers firing one schedule cannot both advance it.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from launchq.adapters.stores import common
from launchq.adapters.stores.sqlite_connections import SqliteConnections
from launchq.domain.models import Schedule
from launchq.errors import AlreadyExists, NotFound


class SqliteSchedules(SqliteConnections):
    """The ``RunStore`` schedule methods on the store's SQLite file."""

    @staticmethod
    def _schedule(conn: sqlite3.Connection, name: str) -> Schedule:
        row = conn.execute("SELECT body FROM schedules WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"schedule {name!r} does not exist", field="schedule")
        return Schedule.model_validate_json(row[0])

    def create_schedule(self, schedule: Schedule) -> None:
        try:
            with self._tx("IMMEDIATE") as conn:
                conn.execute(
                    "INSERT INTO schedules (name, body) VALUES (?, ?)",
                    (schedule.name, schedule.model_dump_json()),
                )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(f"schedule {schedule.name!r} already exists", field="name") from exc

    def get_schedule(self, name: str) -> Schedule:
        with self._tx() as conn:
            return self._schedule(conn, name)

    def list_schedules(self) -> list[Schedule]:
        with self._tx() as conn:
            rows = conn.execute("SELECT body FROM schedules ORDER BY name").fetchall()
        return [Schedule.model_validate_json(row[0]) for row in rows]

    def delete_schedule(self, name: str) -> None:
        with self._tx("IMMEDIATE") as conn:
            if conn.execute("DELETE FROM schedules WHERE name = ?", (name,)).rowcount == 0:
                raise NotFound(f"schedule {name!r} does not exist", field="schedule")

    def advance_schedule(
        self, name: str, expected_next: datetime, next_fire_at: datetime, last_run_id: str
    ) -> None:
        with self._tx("IMMEDIATE") as conn:
            schedule = self._schedule(conn, name)
            advanced = common.advanced_schedule(schedule, expected_next, next_fire_at, last_run_id)
            conn.execute("UPDATE schedules SET body = ? WHERE name = ?", (advanced.model_dump_json(), name))
