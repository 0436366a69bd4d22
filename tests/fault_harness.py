"""The fault-injection harness: enqueue N runs on one store, start four dispatcher processes
(``tests/fault_dispatcher.py``), SIGKILL one at random moments (seeded) and restart it,
until every run has ended; then read the ``JournalTarget``'s records and the store back and
count what the test asserts on (``Figures``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launchq.bootstrap import Services
from launchq.domain.models import RunSpec
from launchq.domain.states import RunState
from launchq.service.queues import QueueCreate
from tests.fault_dispatcher import wire
from tests.fault_target import DURATION_ENV, read_records

REPO = Path(__file__).resolve().parent.parent
QUEUES = {"small": 2, "medium": 3, "large": 5}  # name -> max_jobs
PRIORITIES = ("critical", "high", "medium", "low")
PROCESSES = 4


@dataclass
class Plan:
    """What to run: ``runs`` runs, SIGKILLs ``kill_every`` (min, max) seconds apart."""

    runs: int
    store: dict[str, Any]
    seed: int
    kill_every: tuple[float, float] = (0.5, 2.5)
    lease: float = 8.0
    poll: float = 0.1
    doorbell: dict[str, float] | None = None
    deadline: float = 600.0


@dataclass
class Figures:
    runs: int = 0
    kills: int = 0
    seconds: float = 0.0
    states: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    lost: int = 0
    repeated_submits: int = 0
    unexplained_repeats: list[str] = field(default_factory=list)
    requeued_runs: int = 0
    inversions: list[str] = field(default_factory=list)
    max_active: dict[str, int] = field(default_factory=dict)
    max_running: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"runs {self.runs}, kills {self.kills}, {self.seconds:.0f} s, states {dict(self.states)}, "
            f"duplicates {self.duplicates}, lost {self.lost}, repeated submits (adopted) "
            f"{self.repeated_submits}, runs claimed again after a kill {self.requeued_runs}, "
            f"priority inversions {len(self.inversions)}, max active at submit {self.max_active} "
            f"/ max running on the target {self.max_running} vs max_jobs {QUEUES}"
        )


class Harness:
    def __init__(self, root: Path, plan: Plan) -> None:
        self.root, self.plan = root, plan
        self.rng = random.Random(plan.seed)
        self.config = {"root": str(root), "store": plan.store, "lease": plan.lease, "poll": plan.poll}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.killed: set[int] = set()
        self.starts = 0
        root.mkdir(parents=True, exist_ok=True)
        self.svc: Services = wire(self.config)

    # -- set-up -----------------------------------------------------------------------------
    def enqueue(self) -> list[str]:
        """Every run in line before any dispatcher starts; each queue's line to ``line.json``."""
        for name, max_jobs in QUEUES.items():
            self.svc.queues.create(QueueCreate(name=name, resource="local-process", max_jobs=max_jobs))
        ids = []
        for index in range(self.plan.runs):
            spec = RunSpec(
                entry_point=["job"],
                name=f"r{index}",
                priority=self.rng.choice(PRIORITIES),
                env={DURATION_ENV: f"{self.rng.uniform(0.02, 0.3):.3f}"},
            )
            run, _ = self.svc.runs.enqueue(self.rng.choice(list(QUEUES)), spec)
            ids.append(run.id)
        line = {}
        for name in QUEUES:
            queued = self.svc.ctx.store.list_runs(name, [RunState.QUEUED], limit=self.plan.runs)
            line[name] = [run.id for run in sorted(queued, key=lambda r: (int(r.priority), r.seq))]
        (self.root / "line.json").write_text(json.dumps(line))
        return ids

    # -- the processes ------------------------------------------------------------------------
    def _start(self) -> subprocess.Popen[bytes]:
        self.starts += 1
        config = {**self.config, "seed": self.plan.seed + self.starts, "doorbell": self.plan.doorbell}
        log = (self.root / f"dispatcher-{self.starts}.log").open("wb")
        with log:
            return subprocess.Popen(
                [sys.executable, "-m", "tests.fault_dispatcher", json.dumps(config)],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _left(self) -> int:
        store = self.svc.ctx.store
        return sum(store.count_queued(name) + store.count_active(name) for name in QUEUES)

    def drive(self) -> Figures:
        """Dispatch every run with four processes, killing one at random moments; the figures."""
        figures = Figures(runs=self.plan.runs)
        began = time.monotonic()
        self.procs = [self._start() for _ in range(PROCESSES)]
        try:
            while self._left():
                if time.monotonic() - began > self.plan.deadline:
                    raise AssertionError(f"not done after {self.plan.deadline:g} s: {self._left()} runs left")
                time.sleep(self.rng.uniform(*self.plan.kill_every))
                figures.kills += self._kill_one()
        finally:
            self._stop_all()
        figures.seconds = time.monotonic() - began
        return figures

    def _kill_one(self) -> int:
        index = self.rng.randrange(PROCESSES)
        proc = self.procs[index]
        if proc.poll() is not None:
            raise AssertionError(f"dispatcher {proc.pid} exited by itself ({proc.returncode}); see its log")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.killed.add(proc.pid)
        self.procs[index] = self._start()
        return 1

    def _stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    # -- the outcome --------------------------------------------------------------------------
    def check(self, ids: list[str], figures: Figures) -> Figures:
        store = self.svc.ctx.store
        running: dict[str, list[tuple[float, float]]] = {name: [] for name in QUEUES}
        for run_id in ids:
            run = store.get_run(run_id)
            figures.states[run.state.value] += 1
            records = read_records(self.root / "jobs" / run_id)
            started = [r for r in records if r["new"]]
            figures.lost += not started
            figures.duplicates += max(len(started) - 1, 0)
            figures.inversions += [
                f"{run_id} before {r['ahead_unclaimed']}" for r in records if r["ahead_unclaimed"]
            ]
            for record in records:
                active = figures.max_active.get(run.queue, 0)
                figures.max_active[run.queue] = max(active, record["active"])
            if started:
                begin = started[0]["t"]
                running[run.queue].append((begin, begin + float(run.spec.env[DURATION_ENV])))
            claims = sum(e.to_state is RunState.CLAIMED for e in store.events(run_id))
            figures.requeued_runs += claims > 1
            if len(records) > 1:
                figures.repeated_submits += len(records) - 1
                self._explain_repeat(run_id, records, figures)
        figures.max_running = {name: max_overlap(spans) for name, spans in running.items()}
        return figures

    def _explain_repeat(self, run_id: str, records: list[dict[str, Any]], figures: Figures) -> None:
        """A repeated submit is expected only after the process that submitted before was
        killed (its record of the start was lost) or after a failed attempt was retried."""
        first = min(records, key=lambda r: r["t"])
        retried = any(e.reason.startswith("launch attempt ") for e in self.svc.ctx.store.events(run_id))
        if first["pid"] not in self.killed and not retried:
            figures.unexplained_repeats.append(run_id)


def max_overlap(spans: list[tuple[float, float]]) -> int:
    """The most spans (begin, end) open at one moment."""
    edges = sorted([(begin, 1) for begin, _ in spans] + [(end, -1) for _, end in spans])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most
