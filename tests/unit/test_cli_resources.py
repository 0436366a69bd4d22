"""CLI commands for queues, runs and schedules, against a recording fake API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from launchq import __version__
from launchq.cli import runs as runs_module
from launchq.cli.main import app
from tests.unit.cli_fake_server import FakeApi, Recorded, cli, run_record

CREATED = {"id": "run-7f3a", "state": "queued", "position": 2, "queue": "gpu", "priority": "high"}


# -- queues -----------------------------------------------------------------------------------
def test_queue_create_sends_a_yaml_config_file_as_an_object(fake: FakeApi, tmp_path: Path) -> None:
    # GIVEN a YAML resource config with a template variable
    config = tmp_path / "k8s.yml"
    config.write_text("spec:\n  template:\n    spec:\n      nodeSelector: {gpu: '{{gpu_type}}'}\n")
    fake.reply("POST", "/queues", 201, {"name": "gpu", "resource": "kubernetes"})

    # WHEN the queue is created with it
    result = cli(
        fake, "queue", "create", "gpu", "--resource", "kubernetes", "--config", str(config),
        "--max-jobs", "4", "--no-prioritization",
        "--template-variables", '{"gpu_type": {"type": "string", "enum": ["a100", "h100"]}}',
    )  # fmt: skip

    # THEN the body holds the parsed config and only the settings given
    assert result.exit_code == 0, result.output
    assert fake.calls("POST", "/queues")[0].body == {
        "name": "gpu",
        "resource": "kubernetes",
        "config": {"spec": {"template": {"spec": {"nodeSelector": {"gpu": "{{gpu_type}}"}}}}},
        "template_variables": {"gpu_type": {"type": "string", "enum": ["a100", "h100"]}},
        "max_jobs": 4,
        "prioritization": False,
    }
    assert "created queue gpu (kubernetes)" in result.stdout


def test_queue_create_conflict(fake: FakeApi) -> None:
    fake.reply("POST", "/queues", 409, {"error": "already_exists", "detail": "queue 'gpu' exists"})

    result = cli(fake, "queue", "create", "gpu", "--resource", "local-process")

    assert result.exit_code == 2
    assert result.stderr == "Error: queue 'gpu' exists\n"


def test_queue_list_and_show(fake: FakeApi) -> None:
    queue = {"name": "gpu", "resource": "kubernetes", "max_jobs": -1, "active": 1, "queued": 5,
             "entity": "local", "config": {"spec": {"parallelism": 2}}, "template_variables": {}}  # fmt: skip
    fake.reply("GET", "/queues", 200, {"queues": [queue]})
    fake.reply("GET", "/queues/gpu", 200, queue)

    listed = cli(fake, "queue", "list")
    shown = cli(fake, "queue", "show", "gpu")

    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if "gpu" in line)
    assert row.split() == ["gpu", "kubernetes", "unlimited", "1", "5"]  # piped: columns, no box
    assert shown.exit_code == 0, shown.output
    assert "config:\nspec:\n  parallelism: 2\n" in shown.stdout


def test_queue_delete(fake: FakeApi) -> None:
    fake.reply("DELETE", "/queues/gpu", 204)

    result = cli(fake, "queue", "delete", "gpu")

    assert result.exit_code == 0
    assert len(fake.calls("DELETE", "/queues/gpu")) == 1


# -- runs -------------------------------------------------------------------------------------
def test_runs_list_renders_a_table_with_full_ids(fake: FakeApi) -> None:
    # GIVEN two runs with long ids
    first, second = "01JH8ZQ3K5M9V2X7R4T6Y8W0AB", "01JH8ZQ3K5M9V2X7R4T6Y8W0CD"
    fake.reply("GET", "/runs", 200, {"runs": [
        run_record(first, state="running", exit_code=None, name="train"),
        run_record(second, state="queued", position=1),
    ]})  # fmt: skip

    # WHEN listing runs of one queue in one state
    result = cli(fake, "runs", "list", "-q", "gpu", "--state", "running")

    # THEN the filters are sent and each id appears whole in the table
    assert result.exit_code == 0, result.output
    assert fake.requests[0].query == {"queue": ["gpu"], "state": ["running"]}
    assert "state" in result.stdout
    assert "position" in result.stdout
    assert first in result.stdout
    assert second in result.stdout
    assert "2026-01-02 03:04:05" in result.stdout


def test_runs_show_lists_events_with_reasons(fake: FakeApi) -> None:
    events = [
        {"at": "2026-01-02T03:04:05Z", "from_state": None, "to_state": "queued", "reason": "enqueued"},
        {"at": "2026-01-02T03:04:06Z", "from_state": "queued", "to_state": "dead_letter",
         "reason": "image [gpu] not found"},
    ]  # fmt: skip
    fake.reply("GET", "/runs/r1", 200, run_record("r1", state="dead_letter", events=events))

    result = cli(fake, "runs", "show", "r1")

    assert result.exit_code == 0, result.output
    assert "dead_letter" in result.stdout
    assert "image [gpu] not found" in result.stdout
    assert "python train.py" in result.stdout


def test_logs_follow_prints_chunks_until_the_run_ends(fake: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN output that arrives in two chunks, with a quiet poll between, then the run finishes
    monkeypatch.setattr(runs_module, "POLL_SECONDS", 0.01)
    script = {0: [("step 1\n", 7, "running")], 7: [("", 7, "running"), ("step 2\n", 14, "running")],
              14: [("", 14, "finished")]}  # fmt: skip

    def logs(request: Recorded) -> tuple[int, Any]:
        answers = script[int(request.query["offset"][0])]
        text, next_offset, state = answers.pop(0) if len(answers) > 1 else answers[0]
        return 200, {"text": text, "next_offset": next_offset, "state": state}

    fake.reply_with("GET", "/runs/r1/logs", logs)

    # WHEN following the logs
    result = cli(fake, "runs", "logs", "r1", "-f")

    # THEN both chunks are printed once, in order, and the command ends with the run
    assert result.exit_code == 0, result.output
    assert result.stdout == "step 1\nstep 2\n"
    offsets = [int(r.query["offset"][0]) for r in fake.calls("GET", "/runs/r1/logs")]
    assert offsets == [0, 7, 7, 14]
    assert "run r1 finished" in result.stderr


def test_logs_without_follow_stops_once_caught_up(fake: FakeApi) -> None:
    fake.reply("GET", "/runs/r1/logs", 200, {"text": "hello\n", "next_offset": 6, "state": "running"})
    fake.reply("GET", "/runs/r1/logs", 200, {"text": "", "next_offset": 6, "state": "running"})

    result = cli(fake, "runs", "logs", "r1")

    assert result.exit_code == 0, result.output
    assert result.stdout == "hello\n"
    assert len(fake.calls("GET", "/runs/r1/logs")) == 2


# -- schedules, local mode, version -------------------------------------------------------------
def test_schedule_create_wraps_the_run_flags(fake: FakeApi) -> None:
    fake.reply("POST", "/schedules", 201, {"name": "nightly", "next_fire_at": "2026-01-03T03:00:00Z"})

    result = cli(
        fake, "schedule", "create", "nightly", "-q", "gpu", "--cron", "0 3 * * *",
        "-E", "python eval.py", "-P", "low", "-v", "shard=3", "--name", "eval",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert fake.calls("POST", "/schedules")[0].body == {
        "name": "nightly",
        "queue": "gpu",
        "cron": "0 3 * * *",
        "run": {
            "name": "eval",
            "entry_point": ["python", "eval.py"],
            "priority": "low",
            "template_variables": {"shard": 3},
        },
    }
    assert "next at 2026-01-03 03:00:00 UTC" in result.stdout


def test_agent_hands_its_flags_to_run_agent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import launchq.local.agent as agent_module

    seen: dict[str, Any] = {}
    monkeypatch.setattr(agent_module, "run_agent", lambda **kwargs: seen.update(kwargs))
    config = tmp_path / "launch-config.yaml"
    config.write_text("max_jobs: 2\n")

    log = tmp_path / "agent.log"
    argv = ["agent", "-q", "a", "-q", "b", "-j", "3", "-c", str(config), "-e", "team", "-l", str(log), "-vv"]
    result = CliRunner().invoke(app, argv)

    assert result.exit_code == 0, result.output
    assert seen == {
        "queues": ["a", "b"],
        "max_jobs": 3,
        "config_path": config,
        "data_dir": None,
        "entity": "team",
        "log_file": str(log),
        "verbose": 2,
    }


@pytest.mark.parametrize("value", ["0", "-2"])
def test_agent_refuses_a_max_jobs_that_is_no_limit(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import launchq.local.agent as agent_module

    started: list[object] = []
    monkeypatch.setattr(agent_module, "run_agent", lambda **kwargs: started.append(kwargs))

    result = CliRunner().invoke(app, ["agent", "-q", "a", "-j", value])

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: -j/--max-jobs: must be -1 (no limit) or at least 1")
    assert started == []


def test_agent_refuses_a_missing_config_file() -> None:
    result = CliRunner().invoke(app, ["agent", "-c", "/nonexistent/launch-config.yaml"])

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: -c/--config: cannot read")


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])

    assert result.exit_code == 0
    assert result.stdout.strip() == f"launchq {__version__}"
