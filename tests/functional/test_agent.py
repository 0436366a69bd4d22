"""``launchq agent``: a separate OS process dispatching queues from the shared SQLite store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.domain.models import Queue, Run, RunSpec
from launchq.domain.states import RunState

TERMINAL = {RunState.FINISHED, RunState.FAILED, RunState.DEAD_LETTER, RunState.STOPPED}


def _agent(data_dir: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LAUNCHQ_POLL_INTERVAL": "0.2"}
    return subprocess.Popen(
        [sys.executable, "-m", "launchq.cli.main", "agent", "--data-dir", str(data_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )


def _seed(data_dir: Path, queue: str, count: int) -> tuple[SqliteRunStore, list[str]]:
    store = SqliteRunStore(data_dir / "launchq.db")
    now = datetime.now(UTC)
    store.create_queue(Queue(name=queue, resource="local-process", max_jobs=-1, created_at=now))
    ids = []
    for i in range(count):
        spec = RunSpec(entry_point=[sys.executable, "-c", f"print({i})"])
        run, _ = store.add_run(
            Run(id=f"{queue}-{i}", queue=queue, entity="local", spec=spec, created_at=now, updated_at=now)
        )
        ids.append(run.id)
    return store, ids


def test_agent_runs_the_named_queue_and_respects_its_max_jobs(tmp_path: Path) -> None:
    # GIVEN two queues with runs in a store no server is dispatching
    data = tmp_path / "data"
    store, watched = _seed(data, "watched", 4)
    _, ignored = _seed(data, "ignored", 1)
    config = tmp_path / "launch-config.yaml"
    config.write_text("max_jobs: 2\nqueues:\n  - watched\n")

    # WHEN an agent watches one of them with max_jobs 2 from launch-config.yaml
    agent = _agent(data, "-c", str(config))
    try:
        most_active = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = [store.get_run(i).state for i in watched]
            most_active = max(most_active, sum(s.active for s in states))
            if all(s in TERMINAL for s in states):
                break
            time.sleep(0.02)
    finally:
        agent.send_signal(signal.SIGTERM)
        out = agent.communicate(timeout=20)[0].decode()

    # THEN every watched run finished, never more than two at once, the other queue untouched
    assert [store.get_run(i).state for i in watched] == [RunState.FINISHED] * 4, out
    assert most_active <= 2
    assert store.get_run(ignored[0]).state == RunState.QUEUED
    assert agent.returncode == 0, out


def test_agent_refuses_an_unknown_launch_config_key(tmp_path: Path) -> None:
    config = tmp_path / "launch-config.yaml"
    config.write_text("max_jobs: 1\nqueues: [q]\nbuilder:\n  type: docker\n  colour: red\n")
    agent = _agent(tmp_path / "data", "-c", str(config))
    out = agent.communicate(timeout=30)[0].decode()
    assert agent.returncode == 2
    assert "builder.colour" in out
    assert str(config) in out
    assert "Traceback" not in out
