"""A run gets only the secrets its queue names, and their values never come back out.

A real ``launchq serve`` holds credentials in its environment and a secret in a file. A
queue names two of them (``secrets``); its job prints them. The job gets exactly those,
and the values are ``***`` everywhere the server serves the run: ``GET /runs/{id}``, its
events and reasons, ``/runs/{id}/logs`` (whole, and followed chunk by chunk while the job
writes the secret in two halves), and error messages. The server's own AWS key is masked
too, though no run was given it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.functional.helpers import TERMINAL, create_queue, enqueue, py, wait_state
from tests.servers import launchq_serve

HF = "hf_7yQ2mPzLkW3vRt9XcB"
AWS = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
FILE_SECRET = "db-pass-Zq81-file"
PRINT_SECRETS = py(
    "import hashlib, os\n"
    "for name in ('HF_TOKEN', 'DB_PASSWORD'):\n"
    "    value = os.environ[name]\n"
    "    print(name, 'is', value, 'sha', hashlib.sha256(value.encode()).hexdigest())\n"
    "print('AWS', os.environ.get('AWS_SECRET_ACCESS_KEY', 'absent'))\n"
)


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secrets") / "db-password"
    path.write_text(FILE_SECRET + "\n")
    return path


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """One server for the module (each test uses queues of its own)."""
    data = tmp_path_factory.mktemp("serve") / "data"
    with (
        launchq_serve(data, HF_TOKEN=HF, AWS_SECRET_ACCESS_KEY=AWS) as base,
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        yield client


def everything_served(api: httpx.Client, run_id: str) -> str:
    """The run, its events and its whole log, as the API serves them."""
    run = api.get(f"/runs/{run_id}")
    logs = api.get(f"/runs/{run_id}/logs")
    listing = api.get("/runs")
    return run.text + logs.text + listing.text


def secrets_queue(api: httpx.Client, secret_file: Path, name: str) -> None:
    create_queue(
        api,
        name,
        config={
            "secrets": {
                "HF_TOKEN": "env:HF_TOKEN",
                "DB_PASSWORD": {"from": "file", "path": str(secret_file)},
            }
        },
    )


def test_a_job_gets_its_queues_secrets_and_no_value_is_ever_served(
    api: httpx.Client, secret_file: Path
) -> None:
    # GIVEN a queue naming an env secret and a file secret
    secrets_queue(api, secret_file, "printed")
    # WHEN a job prints both (and looks for the server's AWS key)
    run = enqueue(api, "printed", entry_point=PRINT_SECRETS)
    done = wait_state(api, run["id"], TERMINAL)
    assert done["state"] == "finished", done
    # THEN it had the right values (their hashes are in its log) and not the server's AWS key
    log = api.get(f"/runs/{run['id']}/logs").json()["text"]
    assert f"HF_TOKEN is *** sha {sha(HF)}" in log
    assert f"DB_PASSWORD is *** sha {sha(FILE_SECRET)}" in log
    assert "AWS absent" in log
    # AND no value appears in the run, its events, its log or the run listing
    served = everything_served(api, run["id"])
    for value in (HF, FILE_SECRET, AWS):
        assert value not in served


def test_a_secret_in_a_reason_or_an_error_is_masked(api: httpx.Client, secret_file: Path) -> None:
    # GIVEN a queue with secrets, and a run whose command is named like the secret (it cannot start)
    secrets_queue(api, secret_file, "unstartable")
    run = enqueue(api, "unstartable", entry_point=[f"./{HF}"])
    done = wait_state(api, run["id"], TERMINAL)
    # THEN it dead-letters, and the reason and events quote the command as ***
    assert done["state"] == "dead_letter", done
    assert "cannot start './***'" in done["reason"]
    assert any("./***" in event["reason"] for event in done["events"])
    assert HF not in everything_served(api, run["id"])
    # AND an error message quoting the server's AWS key masks it
    bad_env = {"env": {f"{AWS}=": "x"}}  # not a variable name: the error quotes it
    refused = api.post("/queues", json={"name": "bad", "resource": "local-process", "config": bad_env})
    assert refused.status_code == 422, refused.text
    assert AWS not in refused.text
    assert "***=" in refused.text


def test_a_followed_log_never_shows_a_secret_written_in_two_halves(
    api: httpx.Client, secret_file: Path
) -> None:
    # GIVEN a job that writes its token in two halves a second apart
    secrets_queue(api, secret_file, "halves")
    halves = py(
        "import os, sys, time\n"
        "v = os.environ['HF_TOKEN']\n"
        "sys.stdout.write('token: ' + v[:8]); sys.stdout.flush(); time.sleep(1.5)\n"
        "sys.stdout.write(v[8:] + ' end\\n'); sys.stdout.flush()\n"
    )
    run = enqueue(api, "halves", entry_point=halves)
    # WHEN a client follows the log by offsets while the job runs
    chunks, offset, state = [], 0, "queued"
    deadline = time.monotonic() + 30
    while state not in TERMINAL and time.monotonic() < deadline:
        chunk: dict[str, Any] = api.get(f"/runs/{run['id']}/logs", params={"offset": offset}).json()
        chunks.append(chunk["text"])
        offset, state = chunk["next_offset"], chunk["state"]
        time.sleep(0.1)
    chunks.append(api.get(f"/runs/{run['id']}/logs", params={"offset": offset}).json()["text"])
    # THEN the followed text has the token masked whole, and no chunk has either half of it
    followed = "".join(chunks)
    assert followed == "token: *** end\n", chunks
    assert not any(HF[:8] in c or HF[8:] in c for c in chunks)


def test_a_missing_secret_dead_letters_the_run_naming_it(api: httpx.Client) -> None:
    create_queue(api, "missing", config={"secrets": {"TOKEN": "env:NOT_ON_THE_SERVER"}})
    run = enqueue(api, "missing", entry_point=PRINT_SECRETS)
    done = wait_state(api, run["id"], TERMINAL)
    assert done["state"] == "dead_letter", done
    assert "secret TOKEN: the server's environment has no NOT_ON_THE_SERVER" in done["reason"]


def test_secrets_are_checked_at_queue_create_and_runs_cannot_add_them(api: httpx.Client) -> None:
    # a source local-process cannot use is refused, naming the field, and no queue is made
    bad = api.post(
        "/queues",
        json={"name": "k8s-ref", "resource": "local-process", "config": {"secrets": {"A": "k8s:s/k"}}},
    )
    assert bad.status_code == 422, bad.text
    assert bad.json()["field"] == "config.secrets.A"
    assert "takes: env, file" in bad.json()["detail"]
    assert api.get("/queues/k8s-ref").status_code == 404
    # a run that names a secret in its overrides is refused, and nothing is enqueued
    create_queue(api, "open", allow_overrides=True)
    sneaky = {"local-process": {"secrets": {"X": "env:AWS_SECRET_ACCESS_KEY"}}}
    refused = api.post("/queues/open/runs", json={"entry_point": ["env"], "resource_args": sneaky})
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "resource_args.local-process.secrets"
    assert api.get("/runs", params={"queue": "open"}).json()["runs"] == []
