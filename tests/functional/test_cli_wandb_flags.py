"""W&B's ``wandb launch`` / ``wandb launch-agent`` flags, spelled as W&B spells them, driven
through the installed ``launchq`` command against a real ``launchq serve``.

Each test checks what the run got (``GET /runs/{id}``) or, for a mistake, the one-line error,
exit status 2 and that nothing was stored.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from launchq.cli.errors import CliError
from launchq.cli.inputs import RunRequest, fill_bare_option
from tests.functional.helpers import TERMINAL, create_queue, wait_state
from tests.servers import stop_process

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = str(REPO / "examples")
LAUNCHQ = str(Path(sys.executable).parent / "launchq")
TRAIN = ["-u", EXAMPLES, "-E", "python train.py"]


def launchq(server: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAUNCHQ_URL": server, "COLUMNS": "200"}
    return subprocess.run([LAUNCHQ, *argv], env=env, capture_output=True, text=True, timeout=60)


def launched(api: httpx.Client, server: str, *argv: str) -> dict[str, Any]:
    """Run ``launchq launch ARGV``; it must succeed. Returns the run as the API shows it."""
    done = launchq(server, "launch", *argv)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    response = api.get(f"/runs/{run_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def refused(done: subprocess.CompletedProcess[str], *named: str) -> None:
    """One ``Error:`` line on stderr naming each of ``named``, exit 2, no traceback."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("Error: "), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    for needle in named:
        assert needle in done.stderr
    assert "Traceback" not in done.stderr


def run_ids(api: httpx.Client) -> list[str]:
    return [run["id"] for run in api.get("/runs").json()["runs"]]


# -- launch: -q ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["-q", *TRAIN],
        [*TRAIN, "--queue"],
        ["--queue", "--name", "bare", *TRAIN],
    ],
)
def test_a_bare_queue_flag_is_the_queue_default(server: str, api: httpx.Client, argv: list[str]) -> None:
    # GIVEN a second queue, so "default" is a choice and not the only queue there is
    create_queue(api, "gpu")

    # WHEN -q/--queue is given without a value, as `wandb launch -q` allows
    run = launched(api, server, *argv)

    # THEN the run is on the queue "default"
    assert run["queue"] == "default"


def test_an_option_value_that_looks_like_q_is_not_a_bare_queue(server: str, api: httpx.Client) -> None:
    create_queue(api, "gpu")

    # WHEN "-q" is the value of -a (an argument for the entry point) and the queue is named
    run = launched(api, server, "-q", "gpu", "-u", EXAMPLES, "-E", "python -c pass", "-a", "-q")

    # THEN the queue is the one named and "-q" reached the entry point
    assert run["queue"] == "gpu"
    assert run["spec"]["args"] == ["-q"]


# -- launch: -j and -c overrides ------------------------------------------------------------
def test_a_job_is_launched_with_wandb_overrides_and_its_schema_checked(
    server: str, api: httpx.Client
) -> None:
    # GIVEN a job from examples/ whose inputs have a schema
    job = {
        "name": "fit",
        "source": {"uri": EXAMPLES},
        "entry_point": ["python", "train.py"],
        "args": ["--epochs", "1"],
        "input_schema": {"type": "object", "properties": {"lr": {"type": "number"}}},
    }
    assert api.post("/jobs", json=job).status_code == 201, "the job routes are missing"
    overrides = {"overrides": {"args": ["--epochs", "2"], "run_config": {"lr": 0.5}}}

    # WHEN it is launched with -j and W&B's -c shape
    run = launched(api, server, "-j", "fit:v1", "-q", "default", "-c", json.dumps(overrides))

    # THEN the run records the job version, takes the overrides, and the job reads run_config
    assert run["job"] == "fit:v1"
    spec = run["spec"]
    assert spec["args"] == ["--epochs", "2"]
    assert spec["entry_point"] == ["python", "train.py"]
    assert spec["run_config"] == {"lr": 0.5}
    done = wait_state(api, str(run["id"]), TERMINAL, timeout=60)
    assert done["state"] == "finished", done["reason"]
    assert "lr 0.5, 2 epochs" in api.get(f"/runs/{run['id']}/logs").json()["text"]

    # AND a run_config the schema refuses is one line naming its path, and nothing is enqueued
    before = run_ids(api)
    bad = {"overrides": {"run_config": {"lr": "fast"}}}
    refused(launchq(server, "launch", "-j", "fit", "-q", "default", "-c", json.dumps(bad)), "run_config.lr")
    assert run_ids(api) == before


# -- launch: -D, -B, --build-context --------------------------------------------------------
def test_dockerfile_base_image_and_build_context_reach_the_run(server: str, api: httpx.Client) -> None:
    # WHEN the build flags are given with W&B's spelling
    run = launched(
        api, server, "-q", "default", *TRAIN,
        "-D", "docker/Dockerfile", "-B", "python:3.12-slim", "--build-context", "sub/project",
    )  # fmt: skip

    # THEN the run's spec carries them; the base image where the API takes build options
    spec = run["spec"]
    assert spec["dockerfile"] == "docker/Dockerfile"
    assert spec["build_context"] == "sub/project"
    assert spec["resource_args"] == {"local-process": {"builder": {"base_image": "python:3.12-slim"}}}


def test_base_image_joins_the_resource_args_of_c(server: str, api: httpx.Client) -> None:
    config = {"resource_args": {"local-process": {"env": {"A": "1"}, "builder": {"python_version": "3.11"}}}}

    run = launched(api, server, "-q", "default", *TRAIN, "-c", json.dumps(config), "-B", "python:3.12-slim")

    assert run["spec"]["resource_args"] == {
        "local-process": {
            "env": {"A": "1"},
            "builder": {"python_version": "3.11", "base_image": "python:3.12-slim"},
        }
    }


@pytest.mark.parametrize("context", ["../elsewhere", "/etc"])
def test_a_build_context_outside_the_source_is_refused(server: str, api: httpx.Client, context: str) -> None:
    done = launchq(server, "launch", "-q", "default", *TRAIN, "--build-context", context)

    refused(done, "build_context", "inside the source")
    assert run_ids(api) == []


# -- launch: -r and resource in -c ---------------------------------------------------------
def test_the_resource_flag_must_match_the_queue(server: str, api: httpx.Client) -> None:
    # WHEN the resource named is the queue's, with -r or inside -c
    by_flag = launched(api, server, "-q", "default", *TRAIN, "-r", "local-process")
    by_config = launched(api, server, "-q", "default", *TRAIN, "-c", '{"resource": "local-process"}')

    # THEN the runs are enqueued as usual
    assert {by_flag["queue"], by_config["queue"]} == {"default"}

    # WHEN it is another resource: refused naming the resource, nothing enqueued
    before = run_ids(api)
    for argv in (["-r", "kubernetes"], ["--resource", "sagemaker"], ["-c", '{"resource": "kubernetes"}']):
        done = launchq(server, "launch", "-q", "default", *TRAIN, *argv)
        refused(done, "resource: queue 'default' runs on 'local-process', not ")
    assert run_ids(api) == before


def test_the_resource_flag_wins_over_the_config(server: str, api: httpx.Client) -> None:
    run = launched(
        api, server, "-q", "default", *TRAIN, "-c", '{"resource": "sagemaker"}', "-r", "local-process"
    )
    assert run["queue"] == "default"


# -- launch: -d onto local-process ----------------------------------------------------------
def test_an_image_onto_a_local_process_queue_is_refused(server: str, api: httpx.Client) -> None:
    done = launchq(server, "launch", "-q", "default", "-d", "python:3.11", "-E", "python train.py")

    refused(done, "docker_image", "local-process runs commands, not images")
    assert run_ids(api) == []


# -- agent: -e, -l, -v ----------------------------------------------------------------------
def _agent(data_dir: Path, *argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, "LAUNCHQ_POLL_INTERVAL": "0.2"}
    env.pop("LAUNCHQ_URL", None)  # a local agent, on the server's own store
    return subprocess.Popen(
        [LAUNCHQ, "agent", "--data-dir", str(data_dir), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for(path: Path, text: str, agent: subprocess.Popen[str], timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and agent.poll() is None:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path} (agent exit {agent.poll()})")


def test_agent_logs_to_the_log_file_at_debug_level(server: str, api: httpx.Client, tmp_path: Path) -> None:
    # GIVEN a running server whose queue belongs to the entity "local"
    log = tmp_path / "agent.log"

    # WHEN an agent on its store is started with W&B's -e, -l and -v
    agent = _agent(tmp_path / "data", "-q", "default", "-e", "local", "-l", str(log), "-v")
    try:
        content = _wait_for(log, "launchq agent watching default", agent)
    finally:
        stop_process(agent, signal.SIGTERM, timeout=20)
    out, err = agent.communicate()

    # THEN its log, debug lines included, is in the file and not on the terminal
    assert " DEBUG launchq." in content
    assert "queue default: resource local-process, entity local" in content
    assert "watching" not in out + err
    assert agent.returncode == 0, err


def test_agent_without_verbose_logs_no_debug_lines(server: str, tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    agent = _agent(tmp_path / "data", "-q", "default", "--log-file", str(log))
    try:
        content = _wait_for(log, "launchq agent watching default", agent)
    finally:
        stop_process(agent, signal.SIGTERM, timeout=20)
    assert " DEBUG " not in content


def test_agent_for_another_entity_is_refused(server: str, tmp_path: Path) -> None:
    agent = _agent(tmp_path / "data", "-q", "default", "--entity", "team-a")
    out, err = agent.communicate(timeout=60)

    assert agent.returncode == 2, out + err
    assert err == "Error: entity: queue 'default' belongs to entity 'local', not 'team-a'\n"


def test_agent_refuses_a_log_file_it_cannot_write(server: str, tmp_path: Path) -> None:
    agent = _agent(tmp_path / "data", "-q", "default", "-l", str(tmp_path / "no-such-dir" / "a.log"))
    out, err = agent.communicate(timeout=60)

    assert agent.returncode == 2, out + err
    assert err.startswith("Error: -l/--log-file: cannot write ")
    assert "No such file or directory" in err


# -- the pieces, without a server ------------------------------------------------------------
VALUED = {"-q", "--queue", "-a", "--args", "-u", "-E"}


@pytest.mark.parametrize(
    ("argv", "filled"),
    [
        (["-q"], ["-q", "default"]),
        (["-q", "-u", "x"], ["-q", "default", "-u", "x"]),
        (["--queue", "gpu"], ["--queue", "gpu"]),
        (["--queue=gpu"], ["--queue=gpu"]),
        (["-a", "-q", "-q", "gpu"], ["-a", "-q", "-q", "gpu"]),
        (["-a", "-q"], ["-a", "-q"]),
        (["-q", "-"], ["-q", "-"]),
        (["-q", "gpu", "--", "-q"], ["-q", "gpu", "--", "-q"]),
    ],
)
def test_fill_bare_option(argv: list[str], filled: list[str]) -> None:
    assert fill_bare_option(argv, ("-q", "--queue"), "default", VALUED) == filled


def test_a_request_with_nothing_to_check_never_reads_the_queue() -> None:
    def no_reads(name: str) -> dict[str, object]:
        raise AssertionError(f"read queue {name}")

    assert RunRequest(body={"uri": "x"}, entity=None).for_queue("gpu", no_reads) == {"uri": "x"}


def test_a_base_image_needs_an_object_to_go_into() -> None:
    request = RunRequest(
        body={"resource_args": {"local-process": {"builder": "x"}}}, entity=None, base_image="i"
    )
    with pytest.raises(CliError, match=r"resource_args\.local-process\.builder must be an object"):
        request.for_queue("gpu", lambda name: {"resource": "local-process", "entity": "local"})
