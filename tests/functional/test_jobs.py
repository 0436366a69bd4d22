"""Launch jobs end to end: ``launchq job create/list/describe`` (the installed command) and runs
from a job over HTTP, against a real ``launchq serve`` running the jobs on local-process."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import httpx

from tests.functional.helpers import TERMINAL, wait_state

REPO = Path(__file__).resolve().parents[2]
LAUNCHQ = str(Path(sys.executable).parent / "launchq")
SCHEMA = {
    "type": "object",
    "properties": {"lr": {"type": "number", "exclusiveMinimum": 0}, "epochs": {"type": "integer"}},
    "additionalProperties": False,
}


def launchq(server: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAUNCHQ_URL": server, "COLUMNS": "200"}
    return subprocess.run([LAUNCHQ, *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def ok(server: str, *argv: str) -> str:
    done = launchq(server, *argv)
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def launch(api: httpx.Client, body: dict[str, object]) -> dict[str, object]:
    response = api.post("/queues/default/runs", json=body)
    assert response.status_code == 201, response.text
    return wait_state(api, str(response.json()["id"]), TERMINAL, timeout=60)


def logs(api: httpx.Client, run_id: object) -> str:
    return str(api.get(f"/runs/{run_id}/logs").json()["text"])


def test_a_job_from_examples_is_created_listed_described_and_launched_twice(
    server: str, api: httpx.Client, tmp_path: Path
) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    created = ok(
        server,
        "job",
        "create",
        "train",
        "-u",
        "examples",
        "-E",
        "python train.py",
        "-a",
        "--epochs",
        "-a",
        "2",
        "--env",
        "SEED=1",
        "--input-schema",
        str(schema),
        "--description",
        "fits a line",
    )
    assert created.strip() == "train:v1"

    listing = ok(server, "job", "list")
    assert "train" in listing
    assert "v1" in listing
    assert str(REPO / "examples") in listing  # a local directory is sent as an absolute path
    described = ok(server, "job", "describe", "train")
    for words in ("train:v1", "python train.py", "--epochs 2", "fits a line", "SEED", "exclusiveMinimum"):
        assert words in described, described

    # launched twice with different overrides: both finish on local-process, each records train:v1
    first = launch(api, {"job": "train", "run_config": {"lr": 0.1}})
    second = launch(api, {"job": "train:v1", "args": ["--epochs", "3"], "run_config": {"lr": 0.02}})
    assert (first["state"], second["state"]) == ("finished", "finished")
    assert (first["job"], second["job"]) == ("train:v1", "train:v1")
    assert "lr 0.1, 2 epochs" in logs(api, first["id"])  # run_config reached the job as WANDB_CONFIG
    assert "lr 0.02, 3 epochs" in logs(api, second["id"])
    assert "epoch   3" in logs(api, second["id"])

    # a value the schema refuses: 422 naming the path, and nothing is stored
    before = len(api.get("/runs").json()["runs"])
    refused = api.post("/queues/default/runs", json={"job": "train", "run_config": {"lr": "x"}})
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "run_config.lr"
    assert "'x' is not of type 'number'" in refused.json()["detail"]
    assert len(api.get("/runs").json()["runs"]) == before

    # a second create is v2 and :latest moves; v1 stays as it was
    assert (
        ok(server, "job", "create", "train", "-u", "examples", "-E", "python train.py").strip() == "train:v2"
    )
    latest = api.get("/jobs/train").json()
    assert (latest["version"], latest["versions"], latest["args"]) == (2, [2, 1], [])
    assert api.get("/jobs/train/versions/v1").json()["args"] == ["--epochs", "2"]
    assert api.get("/jobs/train/versions/latest").json()["version"] == 2
    third = launch(api, {"job": "train", "args": ["--epochs", "1"]})
    assert third["job"] == "train:v2"
    assert "train:v1" in ok(server, "job", "describe", "train:v1")
    assert "v2, v1" in ok(server, "job", "describe", "train:1")


def test_unknown_jobs_and_mistakes_are_4xx_naming_the_field(server: str, api: httpx.Client) -> None:
    missing = api.post("/queues/default/runs", json={"job": "nope", "entry_point": ["true"]})
    assert missing.status_code == 404, missing.text
    assert missing.json()["field"] == "job"
    assert api.get("/jobs/nope").status_code == 404
    assert api.get("/jobs/nope/versions/1").json()["field"] == "job"
    assert api.get("/runs").json()["runs"] == []

    both = launchq(server, "job", "create", "j", "-u", "examples", "-d", "busybox:1")
    assert both.returncode == 2
    assert "-u/--uri and -d/--docker-image" in both.stderr
    bad_schema = launchq(
        server, "job", "create", "j", "-u", "examples", "--input-schema", '{"type": "nubmer"}'
    )
    assert bad_schema.returncode == 2
    assert "input_schema" in bad_schema.stderr
    bad_name = launchq(server, "job", "create", "no/slash", "-u", "examples")
    assert bad_name.returncode == 2
    assert "name" in bad_name.stderr
    for done in (both, bad_schema, bad_name):
        assert "Traceback" not in done.stdout + done.stderr
    assert api.get("/jobs").json() == {"jobs": []}
    unknown = launchq(server, "job", "describe", "nope:v3")
    assert unknown.returncode == 2
    assert "job" in unknown.stderr


def test_a_job_from_uploaded_code(server: str, api: httpx.Client) -> None:
    assert ok(server, "job", "create", "packed", "--code", "examples", "-E", "python train.py").strip() == (
        "packed:v1"
    )
    job = api.get("/jobs/packed").json()
    assert job["source"]["code"].startswith("code://")
    assert job["source"]["code"] in ok(server, "job", "describe", "packed")
    run = launch(api, {"job": "packed", "args": ["--epochs", "1"]})  # unpacked into the workspace
    assert (run["state"], run["job"], run["spec"]["uri"]) == ("finished", "packed:v1", job["source"]["code"])
    assert "epoch   1" in logs(api, run["id"])
    listing = json.loads(ok(server, "job", "list", "-o", "json"))
    assert [j["name"] for j in listing["jobs"]] == ["packed"]

    paths = api.get("/openapi.json").json()["paths"]
    for path in ("/jobs", "/jobs/{name}", "/jobs/{name}/versions/{version}"):
        assert path in paths
    assert paths["/jobs"]["post"]["tags"] == ["jobs"]


# The README's jobs walkthrough, as it is printed there (continuation lines included).
README_JOBS = r"""
launchq job create fit -u examples -E "python train.py" -a --epochs -a 5 \
  --input-schema '{"type": "object", "properties": {"lr": {"type": "number", "exclusiveMinimum": 0}}}'
launchq job list
launchq job describe fit
launchq launch -j fit -q default -c '{"overrides": {"run_config": {"lr": 0.1}}}'
launchq launch -j fit:v1 -q default \
  -c '{"overrides": {"args": ["--epochs", "3"], "run_config": {"lr": 0.02}}}'
launchq runs list -q default
"""


def test_the_readme_jobs_walkthrough_word_for_word(server: str, api: httpx.Client) -> None:
    lines = README_JOBS.replace("\\\n", " ").strip().splitlines()
    out = [ok(server, *shlex.split(line)[1:]) for line in lines]

    assert out[0].strip() == "fit:v1"
    assert "fit" in out[1]
    assert "exclusiveMinimum" in out[2]
    first, second = (wait_state(api, run_id.strip(), TERMINAL, timeout=60) for run_id in out[3:5])
    assert (first["state"], first["job"], second["state"], second["job"]) == ("finished", "fit:v1") * 2
    assert "lr 0.1, 5 epochs" in logs(api, first["id"])
    assert "lr 0.02, 3 epochs" in logs(api, second["id"])
    assert {str(first["id"]), str(second["id"])} <= set(out[5].split())  # runs list shows both
    assert "fit:v1" in ok(server, "runs", "show", str(first["id"]))
    refused = launchq(
        server, "launch", "-j", "fit", "-q", "default", "-c", '{"overrides": {"run_config": {"lr": 0}}}'
    )
    assert refused.returncode == 2
    assert "run_config.lr" in refused.stderr
