"""Test-only parts of the fault-injection test (``tests/functional/test_fault_injection.py``):
a target that records every submission in a way that survives SIGKILL, and a doorbell that
drops, duplicates and reorders rings.

``JournalTarget`` keeps its jobs in a directory shared by every dispatcher process, as a
cluster keeps its jobs whatever happens to the client. Each ``submit`` call writes one
record (JSON: run, queue, pid, time, whether it started a job or adopted one, the queue's
active count in the store, and any run ahead in line that was never claimed) to a temporary
file and renames it into ``jobs/<run id>/`` before it returns: a rename is atomic, so a
process killed mid-submit leaves either no record (no job started) or a whole one. A submit
finding a job record of its run adopts it, as every target adopts a job found by its
run-derived name; two submits of one run racing both see none and both start a job: that is
the duplicate the test counts. A job ends ``finished`` ``LAUNCHQ_FAULT_SECONDS`` (the run's
env) after it started.

Priority check, made at each submit: the harness enqueues every run before any dispatcher
starts and writes each queue's line (priority, then seq) to ``line.json``. A run that is
still at version 1 has never been claimed: it has waited in line since before the first
claim. So if a run ahead of the submitted one is at version 1 now (after this run's claim),
it was waiting ahead of it when this run was claimed: a priority inversion, exactly. Runs
claimed before and put back in line by a kill have moved past version 1 and are not
counted. Each process walks the line with a cursor (a run, once claimed, never returns to
version 1), so the check costs about one ``get_run`` per run per process.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any, ClassVar
from uuid import uuid4

from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.domain.models import JsonObject, Run, RunSpec
from launchq.ports import RunStore, Target, TargetStatus

DURATION_ENV = "LAUNCHQ_FAULT_SECONDS"


class JournalTarget(Target):
    """Jobs as records under ``root/jobs/<run id>/``; see the module docstring."""

    resource: ClassVar[str] = "local-process"
    needs_image: ClassVar[bool] = False

    def __init__(self, root: Path, store: RunStore | None = None) -> None:
        self.root = root
        self.store = store
        self._tmp = root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        (root / "jobs").mkdir(exist_ok=True)
        line = root / "line.json"
        self._line: dict[str, list[str]] = json.loads(line.read_text()) if line.exists() else {}
        self._index = {rid: (q, i) for q, ids in self._line.items() for i, rid in enumerate(ids)}
        self._cursor = dict.fromkeys(self._line, 0)
        self._lock = threading.Lock()
        self._count = itertools.count()
        self._starts: dict[str, float] = {}

    def validate(self, spec: RunSpec, resolved: JsonObject) -> None:
        return None

    def submit(self, run: Run) -> dict[str, str]:
        with self._lock:
            # the diagnostics first: they read the store (slow on DynamoDB Local under load), and
            # the look for a job and the record that starts one must be as close as a cluster's
            # create-by-name is atomic
            record: dict[str, Any] = {
                "run": run.id,
                "queue": run.queue,
                "pid": os.getpid(),
                "active": self.store.count_active(run.queue) if self.store else None,
                "ahead_unclaimed": self._unclaimed_ahead(run),
            }
            started = self._start_of(run.id)
            self._write(run.id, {**record, "t": time.time(), "new": started is None})
        return {"job": run.id}

    def status(self, run: Run) -> TargetStatus:
        started = self._start_of(run.id)
        if started is None:
            return TargetStatus(state="lost", detail="no job record")
        if time.time() - started >= float(run.spec.env.get(DURATION_ENV, "0")):
            return TargetStatus(state="finished", exit_code=0)
        return TargetStatus(state="running")

    def stop(self, run: Run) -> None:
        return None

    def logs(self, run: Run, offset: int = 0) -> tuple[str, int]:
        return "", offset

    def _start_of(self, run_id: str) -> float | None:
        """When the run's job started (its first record that started one); None: no job."""
        if run_id in self._starts:
            return self._starts[run_id]
        starts = [r["t"] for r in read_records(self.root / "jobs" / run_id) if r["new"]]
        if not starts:
            return None
        self._starts[run_id] = min(starts)
        return self._starts[run_id]

    def _write(self, run_id: str, record: dict[str, Any]) -> None:
        directory = self.root / "jobs" / run_id
        directory.mkdir(exist_ok=True)
        name = f"{os.getpid()}-{next(self._count)}-{uuid4().hex[:8]}.json"  # unique across targets
        tmp = self._tmp / name
        tmp.write_text(json.dumps(record))
        os.replace(tmp, directory / name)

    def _unclaimed_ahead(self, run: Run) -> str | None:
        """A run ahead of ``run`` in its line that has never been claimed, if there is one."""
        if self.store is None or run.id not in self._index:
            return None
        queue, mine = self._index[run.id]
        line, cursor = self._line[queue], self._cursor[queue]
        while cursor < mine and self.store.get_run(line[cursor]).version > 1:
            cursor += 1
        self._cursor[queue] = cursor
        return line[cursor] if cursor < mine else None


def read_records(directory: Path) -> list[dict[str, Any]]:
    if not directory.is_dir():
        return []
    return [json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))]


class FaultyDoorbell(InProcessDoorbell):
    """The in-process doorbell, losing (``drop``), repeating (``dup``) and holding back one ring
    to deliver it after the next (``reorder``), each with its probability; seeded."""

    def __init__(self, seed: int, drop: float, dup: float, reorder: float) -> None:
        super().__init__()
        self.rng = random.Random(seed)
        self.drop, self.dup, self.reorder = drop, dup, reorder
        self._held: str | None = None
        self._faults = threading.Lock()
        self.counts = {"rings": 0, "dropped": 0, "duplicated": 0, "reordered": 0}

    def ring(self, queue: str) -> None:
        with self._faults:
            self.counts["rings"] += 1
            roll = self.rng.random()
            held, deliver = self._held, [queue]
            self._held = None
            if roll < self.drop:
                self.counts["dropped"] += 1
                deliver = []
            elif roll < self.drop + self.dup:
                self.counts["duplicated"] += 1
                deliver = [queue, queue]
            elif roll < self.drop + self.dup + self.reorder:
                self.counts["reordered"] += 1
                self._held, deliver = queue, []
            if held is not None:
                deliver.append(held)  # the held-back ring comes after a later one
        for name in deliver:
            super().ring(name)
