"""The ``launchq`` CLI against a scripted HTTP server: request bodies, output, errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from launchq.cli.main import app
from tests.servers import free_port
from tests.unit.cli_fake_server import FakeApi, cli

CREATED = {"id": "run-7f3a", "state": "queued", "position": 2, "queue": "gpu", "priority": "high"}


# -- launch -----------------------------------------------------------------------------------
def test_launch_sends_the_run_body_and_prints_only_the_id(fake: FakeApi, tmp_path: Path) -> None:
    # GIVEN a queue that accepts the run, and resource args in a file
    fake.reply("POST", "/queues/gpu/runs", 201, CREATED)
    resource_args = tmp_path / "ra.json"
    resource_args.write_text(json.dumps({"kubernetes": {"spec": {"parallelism": 2}}}))

    # WHEN the user launches with every kind of run flag
    result = cli(
        fake,
        "launch", "-q", "gpu",
        "-u", "https://github.com/acme/train", "-g", "main",
        "-E", "python train.py --data 'my dir'",
        "-a", "--lr", "-a", "0.1",
        "-P", "HIGH",
        "-v", "gpus=2", "-v", "lr=0.5", "-v", "mode=fast", "-v", "tag=007x",
        "-R", str(resource_args),
        "--env", "WANDB_MODE=offline", "--env", "OPTS=a=b",
        "--name", "nightly", "-p", "vision",
    )  # fmt: skip

    # THEN the body carries each flag in the API's shape, and stdout is the id alone
    assert result.exit_code == 0, result.output
    (call,) = fake.calls("POST", "/queues/gpu/runs")
    assert call.body == {
        "uri": "https://github.com/acme/train",
        "git_version": "main",
        "name": "nightly",
        "project": "vision",
        "entry_point": ["python", "train.py", "--data", "my dir"],
        "args": ["--lr", "0.1"],
        "priority": "high",
        "resource_args": {"kubernetes": {"spec": {"parallelism": 2}}},
        "template_variables": {"gpus": 2, "lr": 0.5, "mode": "fast", "tag": "007x"},
        "env": {"WANDB_MODE": "offline", "OPTS": "a=b"},
    }
    assert result.stdout == "run-7f3a\n"
    assert "queued at position 2 on gpu (high)" in result.stderr


def test_launch_sends_inline_resource_args_and_the_idempotency_key(fake: FakeApi) -> None:
    # GIVEN a queue that accepts the run
    fake.reply("POST", "/queues/gpu/runs", 201, CREATED)

    # WHEN resource args are inline JSON and an idempotency key is given
    result = cli(
        fake, "launch", "-q", "gpu", "-d", "img:1", "-R", '{"cpu": 2, "tags": ["a"]}',
        "--idempotency-key", "nightly-2026-01-02",
    )  # fmt: skip

    # THEN both reach the server
    assert result.exit_code == 0, result.output
    (call,) = fake.calls("POST", "/queues/gpu/runs")
    assert call.body == {"docker_image": "img:1", "resource_args": {"cpu": 2, "tags": ["a"]}}
    assert call.headers["idempotency-key"] == "nightly-2026-01-02"


def test_launch_without_idempotency_key_sends_no_such_header(fake: FakeApi) -> None:
    fake.reply("POST", "/queues/gpu/runs", 201, CREATED)

    result = cli(fake, "launch", "-q", "gpu", "-d", "img:1")

    assert result.exit_code == 0, result.output
    assert "idempotency-key" not in fake.calls("POST", "/queues/gpu/runs")[0].headers


def test_launch_config_maps_wandb_keys_and_flags_override_it(fake: FakeApi, tmp_path: Path) -> None:
    # GIVEN a W&B launch config file
    config = tmp_path / "launch.json"
    config.write_text(
        json.dumps(
            {
                "overrides": {
                    "args": ["--epochs", "3"],
                    "entry_point": ["python", "train.py"],
                    "run_config": {"lr": 0.1},
                },
                "resource_args": {"cpu": 1},
                "template_variables": {"gpus": 1, "zone": "a"},
                "priority": 3,
                "docker": {"docker_image": "base:1"},
                "project": "from-config",
            }
        )
    )
    fake.reply("POST", "/queues/gpu/runs", 201, CREATED)

    # WHEN flags set some of the same things
    result = cli(fake, "launch", "-q", "gpu", "-c", str(config), "-v", "gpus=4", "-P", "critical")

    # THEN config keys land in the body and the flags win where both are given
    assert result.exit_code == 0, result.output
    assert fake.calls("POST", "/queues/gpu/runs")[0].body == {
        "docker_image": "base:1",
        "project": "from-config",
        "args": ["--epochs", "3"],
        "entry_point": ["python", "train.py"],
        "run_config": {"lr": 0.1},  # the server checks it and gives it to the job as WANDB_CONFIG
        "resource_args": {"cpu": 1},
        "template_variables": {"gpus": 4, "zone": "a"},
        "priority": "critical",
    }


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ('{"job": "acme/proj/job:v1"}', "'job'"),
        ('{"overrides": {"dockerfile": "Dockerfile.gpu"}}', "overrides: 'dockerfile'"),
        ('{"overrides": {"args": "--epochs 3"}}', "overrides.args must be a list of strings"),
    ],
)
def test_launch_config_refuses_what_launchq_cannot_honour(fake: FakeApi, config: str, named: str) -> None:
    # WHEN the launch config holds a key launchq has no place for, or a wrong type
    result = cli(fake, "launch", "-q", "gpu", "-c", config)

    # THEN it is refused before anything is sent, naming the key
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: -c/--config: ")
    assert named in result.stderr
    assert fake.requests == []


def test_entity_that_is_not_the_queues_is_refused(fake: FakeApi) -> None:
    # GIVEN a queue owned by entity "local"
    fake.reply("GET", "/queues/gpu", 200, {"name": "gpu", "entity": "local"})

    # WHEN the user launches as another entity
    result = cli(fake, "launch", "-q", "gpu", "-d", "img:1", "-e", "team-a")

    # THEN nothing is enqueued
    assert result.exit_code == 2
    assert "queue 'gpu' belongs to entity 'local', not 'team-a'" in result.stderr
    assert fake.calls("POST", "/queues/gpu/runs") == []


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        {"error": "invalid_input", "detail": "template_variables.gpus: 9 is above the maximum 8",
         "field": "template_variables.gpus"},
        {"error": "invalid_input", "detail": "9 is above the maximum 8", "field": "template_variables.gpus"},
    ],
)  # fmt: skip
def test_api_422_prints_one_line_naming_the_field(fake: FakeApi, body: dict[str, Any]) -> None:
    # GIVEN the API refuses the run
    fake.reply("POST", "/queues/gpu/runs", 422, body)

    # WHEN launching
    result = cli(fake, "launch", "-q", "gpu", "-d", "img:1", "-v", "gpus=9")

    # THEN one line "Error: field: detail" on stderr, exit 2, nothing on stdout, no traceback
    assert result.exit_code == 2
    assert result.stderr == "Error: template_variables.gpus: 9 is above the maximum 8\n"
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_server_errors_exit_1(fake: FakeApi) -> None:
    fake.reply("GET", "/queues", 503, {"error": "unavailable", "detail": "store is locked"})

    result = cli(fake, "queue", "list")

    assert result.exit_code == 1
    assert result.stderr == "Error: launchq server error (HTTP 503 unavailable): store is locked\n"


def test_not_found_is_a_user_mistake(fake: FakeApi) -> None:
    fake.reply("POST", "/runs/nope/stop", 404, {"error": "not_found", "detail": "no run 'nope'"})

    result = cli(fake, "runs", "stop", "nope")

    assert result.exit_code == 2
    assert result.stderr == "Error: no run 'nope'\n"


def test_priority_is_checked_before_sending(fake: FakeApi) -> None:
    result = cli(fake, "launch", "-q", "gpu", "-d", "img:1", "-P", "urgent")

    assert result.exit_code == 2
    assert result.stderr == (
        "Error: priority: 'urgent' is not a priority; use critical, high, medium, low or 0..3\n"
    )
    assert fake.requests == []


def test_connection_refused_says_how_to_fix_it() -> None:
    # GIVEN nothing listens on the port
    url = f"http://127.0.0.1:{free_port()}"

    # WHEN any command talks to it
    result = CliRunner().invoke(app, ["--url", url, "runs", "list"])

    # THEN one line pointing at `launchq serve`, exit 1
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot reach launchq at {url} — is `launchq serve` running?\n"


def test_installed_command_reads_launchq_url_and_never_prints_a_traceback() -> None:
    # GIVEN LAUNCHQ_URL points at a port nothing listens on
    url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "LAUNCHQ_URL": url}

    # WHEN the real entry point runs in its own process
    proc = subprocess.run(
        [sys.executable, "-m", "launchq.cli.main", "queue", "list"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip

    # THEN it used that URL, printed one line, and exited 1
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"Error: cannot reach launchq at {url} — is `launchq serve` running?"
    ]
    assert proc.stdout == ""


@pytest.mark.parametrize("where", ["queue-file", "launch-inline"])
def test_malformed_config_exits_2_naming_the_option(fake: FakeApi, tmp_path: Path, where: str) -> None:
    # GIVEN YAML with an unclosed list
    bad = "image: [a, b\nresources: {}\n"
    path = tmp_path / "queue.yaml"
    path.write_text(bad)

    # WHEN it is given as --config
    if where == "queue-file":
        result = cli(fake, "queue", "create", "q", "--resource", "local-process", "--config", str(path))
        option = "--config"
    else:
        result = cli(fake, "launch", "-q", "gpu", "--config", bad)
        option = "-c/--config"

    # THEN one line names the option and the parser's complaint, and nothing is sent
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {option}: malformed YAML")
    assert "line " in result.stderr
    assert result.stderr.count("\n") == 1
    if where == "queue-file":
        assert str(path) in result.stderr
    assert fake.requests == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["-v", "gpus"], "Error: -v/--set-var: expected KEY=VALUE, got 'gpus'\n"),
        (["--env", "TOKEN"], "Error: --env: expected KEY=VALUE, got 'TOKEN'\n"),
        (["-R", "missing.yaml"], "Error: -R/--resource-args: cannot read 'missing.yaml': No such file"),
        (["-E", "python 'unclosed"], "Error: -E/--entry-point: cannot split"),
    ],
)
def test_bad_local_input_exits_2_without_sending(fake: FakeApi, flags: list[str], message: str) -> None:
    result = cli(fake, "launch", "-q", "gpu", *flags)

    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1
    assert fake.requests == []


def test_usage_errors_are_one_line_with_a_pointer_to_help(fake: FakeApi) -> None:
    result = cli(fake, "launch", "-d", "img:1")

    assert result.exit_code == 2
    assert result.stderr == "Error: Missing option '--queue' / '-q'. (see 'launchq launch --help')\n"
    assert fake.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus", "queue", "list"], "Error: No such option: --bogus (see 'launchq --help')\n"),
        (["--url"], "Error: Option '--url' requires an argument. (see 'launchq --help')\n"),
    ],
)
def test_a_bad_top_level_option_is_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)

    assert result.exit_code == 2
    assert result.stderr == message
