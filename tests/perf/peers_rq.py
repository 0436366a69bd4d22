"""RQ on Redis as a peer: the no-op job, its enqueue and its check, for ``peers_bench``.

Prioritised RQ's documented way: one queue per priority, and every worker is started with
the queues in priority order (``rq worker critical high medium low``), since "the order is
important" — a worker always takes from the first non-empty queue it listens on
(https://python-rq.org/docs/workers/). The workers are RQ's default ``rq.Worker``, which
forks a work horse per job. The job appends its id to a Redis list, so a job run twice
shows up as a repeated id.
"""

from __future__ import annotations

import sys
from pathlib import Path

import redis
from rq import Queue, Worker, get_current_job

DONE_KEY = "launchq-bench:done"
QUEUES = ("critical", "high", "medium", "low")  # launchq's priorities, highest first


def record(job_id: int) -> None:
    """The no-op job: note that it ran (RQ hands the job its own Redis connection)."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("record() runs only inside an RQ job")
    job.connection.rpush(DONE_KEY, job_id)


class RqPeer:
    """What ``peers_bench`` needs from RQ: workers' argv, readiness, enqueue, the ids run."""

    name = "rq"

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn = redis.Redis.from_url(url)
        self.queues = [Queue(name, connection=self.conn) for name in QUEUES]
        self.env: dict[str, str] = {}

    def worker_argv(self) -> list[str]:
        rq = Path(sys.executable).with_name("rq")
        return [str(rq), "worker", "--url", self.url, "--path", ".", *QUEUES]

    def workers_ready(self) -> int:
        return len(Worker.all(connection=self.conn))

    def reset(self) -> None:
        self.conn.delete(DONE_KEY)

    def enqueue(self, count: int) -> None:
        """``count`` jobs, one request each, spread over the four priorities in turn."""
        for job_id in range(count):
            self.queues[job_id % len(QUEUES)].enqueue(record, job_id)

    def done_count(self) -> int:
        return int(self.conn.llen(DONE_KEY))

    def done_ids(self) -> list[int]:
        return [int(item) for item in self.conn.lrange(DONE_KEY, 0, -1)]

    def close(self) -> None:
        self.conn.close()
