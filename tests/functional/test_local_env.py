"""A local-process job starts in a clean environment, not the server's (issue 14, secrets).

A real ``launchq serve`` started with credentials in its environment runs ``env``-like jobs:
they see PATH, HOME and W&B's non-secret settings, never the server's AWS keys, W&B API key
or other variables, unless the queue's config names them in ``inherit_env``; a run's own
``env`` and the queue's ``env`` still reach it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.functional.helpers import TERMINAL, create_queue, enqueue, py, wait_state
from tests.servers import launchq_serve

SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
    "WANDB_API_KEY": "wandb-secret-value",
    "HF_TOKEN": "hf-secret-value",
    "CUSTOM_FLAG": "custom-value",
    "WANDB_BASE_URL": "https://wandb.example",
}
DUMP_ENV = py("import json, os; print(json.dumps(dict(os.environ)))")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[httpx.Client]:
    with (
        launchq_serve(tmp_path / "data", **SECRETS) as base,
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        yield client


def job_env(api: httpx.Client, queue: str, **body: object) -> dict[str, str]:
    run = enqueue(api, queue, entry_point=DUMP_ENV, **body)
    done = wait_state(api, run["id"], TERMINAL)
    assert done["state"] == "finished", done
    text = api.get(f"/runs/{run['id']}/logs").json()["text"]
    found: dict[str, str] = json.loads(text.strip().splitlines()[-1])
    return found


def test_a_job_sees_none_of_the_servers_secrets(api: httpx.Client) -> None:
    # GIVEN a server whose environment holds credentials, and a plain local-process queue
    create_queue(api, "plain")
    # WHEN a job prints its environment
    env = job_env(api, "plain", env={"RUN_VAR": "from-run"})
    # THEN it has what programs need, W&B's non-secret settings and its run's env, and no secret
    assert {"PATH", "HOME", "LAUNCHQ_RUN_ID", "WANDB_RUN_ID"} <= set(env)
    assert env["WANDB_BASE_URL"] == "https://wandb.example"
    assert env["RUN_VAR"] == "from-run"
    assert not {"AWS_SECRET_ACCESS_KEY", "WANDB_API_KEY", "HF_TOKEN", "CUSTOM_FLAG"} & set(env)
    assert not any(value.endswith("-secret-value") for value in env.values())


def test_the_queue_config_opts_in_to_named_variables(api: httpx.Client) -> None:
    # GIVEN a queue whose config passes HF_TOKEN and CUSTOM_* on
    config = {"inherit_env": ["HF_TOKEN", "CUSTOM_*"]}
    create_queue(api, "opted", config=config)
    # WHEN a job prints its environment  THEN it has those, and still no other secret
    env = job_env(api, "opted")
    assert (env["HF_TOKEN"], env["CUSTOM_FLAG"]) == ("hf-secret-value", "custom-value")
    assert not {"AWS_SECRET_ACCESS_KEY", "WANDB_API_KEY"} & set(env)


def test_a_bad_inherit_env_is_refused_naming_the_field(api: httpx.Client) -> None:
    config = {"inherit_env": ["A=B"]}
    response = api.post("/queues", json={"name": "bad", "resource": "local-process", "config": config})
    assert response.status_code == 422, response.text
    assert "inherit_env" in response.text
    assert api.get("/queues/bad").status_code == 404
