"""procrastinate on PostgreSQL as a peer: the app, the no-op task and its check, for ``peers_bench``.

Prioritised procrastinate's documented way: ``priority=`` when deferring
(``task.configure(priority=...)``; "jobs with higher priority are run first", default 0,
https://procrastinate.readthedocs.io/en/stable/howto/advanced/priorities.html). launchq's
critical..low become 3..0. The workers are ``procrastinate worker`` processes with
concurrency 1, one per slot, as launchq runs one process per slot. The job inserts its id
into a table with no unique key, so a job run twice shows up as a repeated id.

The workers import this module (``--app=tests.perf.peers_procrastinate.app``) and find
the database in ``LAUNCHQ_BENCH_PG``.
"""

from __future__ import annotations

import contextlib
import os
import sys

import procrastinate
import psycopg
from procrastinate import JobContext

CONNINFO_VAR = "LAUNCHQ_BENCH_PG"
LEVELS = 4  # launchq's priorities; job i has launchq priority i % 4 (0 = critical)

app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=os.environ.get(CONNINFO_VAR, "")))


@app.task(name="record", queue="bench", pass_context=True)
async def record(context: JobContext, job_id: int) -> None:
    """The no-op job: note that it ran."""
    await context.app.connector.execute_query_async(
        "INSERT INTO bench_done (job_id) VALUES (%(job_id)s)", job_id=job_id
    )


class ProcrastinatePeer:
    """What ``peers_bench`` needs from procrastinate: workers' argv, readiness, enqueue, ids run."""

    name = "procrastinate"

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.env = {CONNINFO_VAR: conninfo}
        self.db = psycopg.connect(conninfo, autocommit=True)
        # The client side defers synchronously, as a web app does, over one open pool.
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(
            app.replace_connector(procrastinate.SyncPsycopgConnector(conninfo=conninfo))
        )
        self._stack.enter_context(app.open())
        app.schema_manager.apply_schema()
        self.db.execute("CREATE TABLE IF NOT EXISTS bench_done (job_id integer NOT NULL)")

    def worker_argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "procrastinate",
            "--app=tests.perf.peers_procrastinate.app",
            "worker",
            "--queues=bench",
            "--concurrency=1",
        ]

    def workers_ready(self) -> int:
        row = self.db.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
        return int(row[0]) if row else 0

    def reset(self) -> None:
        self.db.execute("TRUNCATE bench_done")

    def enqueue(self, count: int) -> None:
        """``count`` jobs, one defer each, spread over the four priorities in turn."""
        for job_id in range(count):
            priority = LEVELS - 1 - job_id % LEVELS
            record.configure(priority=priority).defer(job_id=job_id)

    def done_count(self) -> int:
        row = self.db.execute("SELECT count(*) FROM bench_done").fetchone()
        return int(row[0]) if row else 0

    def done_ids(self) -> list[int]:
        return [int(row[0]) for row in self.db.execute("SELECT job_id FROM bench_done").fetchall()]

    def close(self) -> None:
        self._stack.close()
        self.db.close()
