"""API keys against a real ``launchq serve --auth keys`` process: who gets in, what each role may
do, and that one entity's key can neither see nor touch another entity's queues and runs.

Two entities (team-a, team-b) each get their first admin key from ``launchq keys create
--data-dir`` (the CLI, as a user would), then make their other keys through the API.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.functional.helpers import create_queue, enqueue, py, wait_state
from tests.servers import free_port, launchq_serve_process

SLEEPER = py("import time; time.sleep(60)")


def cli(*args: str, key: str | None = None, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LAUNCHQ_API_KEY", "LAUNCHQ_AUTH")}
    if key is not None:
        env["LAUNCHQ_API_KEY"] = key
    head = ["--url", url] if url else []
    return subprocess.run(
        [sys.executable, "-m", "launchq.cli.main", *head, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def api(base: str, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=base, headers=headers, timeout=10)


@dataclass
class World:
    base: str
    log: Path
    keys: dict[str, str]  # "a-admin", "a-submit", "a-read", "b-admin" -> the full key
    b_run: str
    work: Path  # a directory runs may use as their uri (--allow-dir)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("auth")
    data, work = root / "data", root / "work"
    work.mkdir()
    with launchq_serve_process(data, "--auth", "keys", "--allow-dir", str(work)) as (base, _proc):
        keys: dict[str, str] = {}
        for entity in ("a", "b"):
            made = cli(
                "keys", "create", "--data-dir", str(data), "--entity", f"team-{entity}", "--role", "admin"
            )
            assert made.returncode == 0, made.stderr
            keys[f"{entity}-admin"] = made.stdout.strip()
        with api(base, keys["a-admin"]) as admin_a, api(base, keys["b-admin"]) as admin_b:
            create_queue(admin_a, "qa")
            create_queue(admin_b, "qb")
            for role in ("submit", "read"):
                made_key = admin_a.post("/keys", json={"role": role, "name": f"a {role}"})
                assert made_key.status_code == 201, made_key.text
                keys[f"a-{role}"] = made_key.json()["key"]
            b_run = enqueue(admin_b, "qb", uri=str(work), entry_point=SLEEPER)["id"]
            wait_state(admin_b, b_run, {"running"})
        yield World(base, next(root.glob("serve-*.log")), keys, b_run, work)


# -- who gets in -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-key",
        "Bearer lq_0123456789ab_" + "A" * 43,
    ],
    ids=["missing", "empty-bearer", "basic", "malformed", "unknown-id"],
)
def test_a_request_without_a_valid_key_is_401_with_a_challenge(world: World, header: str | None) -> None:
    # WHEN a queue is asked for without a usable key
    headers = {"Authorization": header} if header is not None else {}
    response = httpx.get(f"{world.base}/queues", headers=headers)
    # THEN 401, a Bearer challenge, and an error body that does not echo the header
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="launchq"')
    assert response.json()["error"] == "unauthorized"
    if header:
        assert header.split(" ")[-1] not in response.text


def test_the_right_id_with_a_wrong_secret_is_401(world: World) -> None:
    # GIVEN a real key with one character of its secret changed
    key = world.keys["a-read"]
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")
    # THEN it is refused like any unknown key, while the real one passes
    assert httpx.get(f"{world.base}/queues", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert httpx.get(f"{world.base}/queues", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_health_and_the_api_document_stay_open(world: World) -> None:
    assert httpx.get(f"{world.base}/healthz").status_code == 200
    assert httpx.get(f"{world.base}/openapi.json").status_code == 200


# -- entities ----------------------------------------------------------------------------
def test_another_entitys_queue_is_not_found_worded_as_a_missing_one(world: World) -> None:
    with api(world.base, world.keys["a-admin"]) as a:
        # WHEN team-a's admin names team-b's queue, and a queue that does not exist at all
        foreign, missing = a.get("/queues/qb"), a.get("/queues/no-such-queue")
        # THEN both are the same 404, so team-a cannot tell that qb exists
        assert foreign.status_code == missing.status_code == 404
        assert foreign.json()["detail"].replace("qb", "X") == missing.json()["detail"].replace(
            "no-such-queue", "X"
        )
        # AND the same goes for enqueueing into it, stopping its runs, listing its runs, and patching it
        assert a.post("/queues/qb/runs", json={"uri": "/tmp", "entry_point": ["true"]}).status_code == 404
        assert a.post("/queues/qb/stop", json={}).status_code == 404
        assert a.get("/runs", params={"queue": "qb"}).status_code == 404
        assert a.patch("/queues/qb", json={"max_jobs": 3}).status_code == 404
        assert a.delete("/queues/qb").status_code == 404
        # AND listings show only team-a's own
        assert [q["name"] for q in a.get("/queues").json()["queues"]] == ["qa"]
        assert world.b_run not in {r["id"] for r in a.get("/runs").json()["runs"]}


def test_another_entitys_run_cannot_be_read_stopped_or_replayed(world: World) -> None:
    with api(world.base, world.keys["a-admin"]) as a, api(world.base, world.keys["b-admin"]) as b:
        # WHEN team-a's admin reads, follows, stops and replays team-b's running run
        for response in (
            a.get(f"/runs/{world.b_run}"),
            a.get(f"/runs/{world.b_run}/logs"),
            a.post(f"/runs/{world.b_run}/stop"),
            a.post(f"/runs/{world.b_run}/replay"),
        ):
            # THEN every answer is the run-not-found 404
            assert response.status_code == 404, response.text
            assert response.json()["detail"] == f"run: run {world.b_run!r} does not exist"
        # AND the run is untouched: still running, as its owner sees it
        assert b.get(f"/runs/{world.b_run}").json()["state"] == "running"


def test_a_key_acts_only_in_its_own_entity(world: World) -> None:
    with api(world.base, world.keys["a-admin"]) as a:
        # a queue or key for another entity is refused; one without an entity is the caller's
        refused = a.post("/queues", json={"name": "sneaky", "resource": "local-process", "entity": "team-b"})
        assert refused.status_code == 403
        assert refused.json()["field"] == "entity"
        assert a.post("/keys", json={"role": "admin", "entity": "team-b"}).status_code == 403
        assert a.get("/queues/sneaky").status_code == 404  # nothing was stored half-way
        made = create_queue(a, "qa2")
        assert made["entity"] == "team-a"
        assert a.delete("/queues/qa2").status_code == 204


# -- roles -------------------------------------------------------------------------------
def test_a_read_key_only_reads(world: World) -> None:
    with api(world.base, world.keys["a-read"]) as read:
        assert read.get("/queues/qa").status_code == 200
        assert read.get("/runs").status_code == 200
        refused = read.post("/queues/qa/runs", json={"uri": "/tmp", "entry_point": ["true"]})
        assert refused.status_code == 403
        assert refused.json()["field"] == "role"
        assert read.get("/keys").status_code == 403
        assert read.delete("/queues/qa").status_code == 403


def test_a_submit_key_runs_but_does_not_administer(world: World) -> None:
    with api(world.base, world.keys["a-submit"]) as submit:
        # WHEN it enqueues and stops a run of its entity
        run = enqueue(submit, "qa", uri=str(world.work), entry_point=SLEEPER)["id"]
        assert submit.post(f"/runs/{run}/stop").status_code == 202
        # THEN both worked; but queues and keys are an admin's
        assert submit.post("/queues", json={"name": "q2", "resource": "local-process"}).status_code == 403
        assert submit.patch("/queues/qa", json={"max_jobs": 2}).status_code == 403
        assert submit.post("/keys", json={"role": "read"}).status_code == 403


def test_an_admin_lists_its_entitys_keys_without_secrets(world: World) -> None:
    with api(world.base, world.keys["a-admin"]) as a:
        listed = a.get("/keys")
    assert listed.status_code == 200
    entities = {k["entity"] for k in listed.json()["keys"]}
    assert entities == {"team-a"}
    assert {k["role"] for k in listed.json()["keys"]} == {"admin", "submit", "read"}
    for key in world.keys.values():
        secret = key.rsplit("_", 1)[1]
        assert secret not in listed.text
    assert "hash" not in listed.text


# -- revoking ----------------------------------------------------------------------------
def test_a_revoked_key_fails_on_the_very_next_request(world: World) -> None:
    with api(world.base, world.keys["a-admin"]) as a:
        made = a.post("/keys", json={"role": "read", "name": "short-lived"}).json()
        with api(world.base, made["key"]) as short:
            assert short.get("/queues").status_code == 200
            # another entity's admin cannot revoke it (and cannot tell it exists)
            with api(world.base, world.keys["b-admin"]) as b:
                assert b.delete(f"/keys/{made['id']}").status_code == 404
            assert short.get("/queues").status_code == 200
            # WHEN its own admin revokes it
            revoked = a.delete(f"/keys/{made['id']}")
            assert revoked.status_code == 200
            assert revoked.json()["revoked_at"]
            # THEN the next request with it is refused
            assert short.get("/queues").status_code == 401


# -- the CLI -----------------------------------------------------------------------------
def test_the_cli_sends_the_key_from_the_environment(world: World) -> None:
    # WHEN the CLI lists runs with team-a's key in LAUNCHQ_API_KEY, and without any key
    with_key = cli("runs", "list", "-q", "qa", "-o", "json", key=world.keys["a-read"], url=world.base)
    without = cli("runs", "list", "-q", "qa", url=world.base)
    # THEN the first works and the second is one line saying 401, naming no key
    assert with_key.returncode == 0, with_key.stderr
    assert without.returncode != 0
    assert "401" in without.stderr
    assert "LAUNCHQ_API_KEY" in without.stderr  # says what to set
    assert len(without.stderr.strip().splitlines()) == 1


def test_keys_list_and_create_through_the_cli(world: World) -> None:
    made = cli(
        "keys", "create", "--role", "read", "--name", "from-cli", key=world.keys["a-admin"], url=world.base
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("lq_")
    assert token not in made.stderr
    listed = cli("keys", "list", "-o", "json", key=world.keys["a-admin"], url=world.base)
    assert listed.returncode == 0, listed.stderr
    assert "from-cli" in listed.stdout
    assert token.rsplit("_", 1)[1] not in listed.stdout
    # a second key of team-a cannot be made on the data directory: team-a has keys
    again = cli(
        "keys",
        "create",
        "--data-dir",
        str(world.log.parent / "data"),
        "--entity",
        "team-a",
        "--role",
        "admin",
    )
    assert again.returncode == 2
    assert "team-a" in again.stderr


# -- the network ---------------------------------------------------------------------------
def test_serving_beyond_loopback_without_auth_refuses_to_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    started = cli("serve", "--host", "0.0.0.0", "--port", str(free_port()), "--data-dir", str(data))
    assert started.returncode == 2
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: --host: refusing to serve on 0.0.0.0 without auth")
    assert not (data / "launchq.db").exists()


def test_no_key_reaches_the_servers_log(world: World) -> None:
    # GIVEN every request above, good keys and forged ones; and one more failing request
    httpx.get(f"{world.base}/runs/nope", headers={"Authorization": f"Bearer {world.keys['a-admin']}"})
    # THEN no key, nor its secret, is anywhere in the server's stdout/stderr
    log = world.log.read_text()
    assert "launchq serving on" in log  # the log is the server's (it did write to it)
    for key in world.keys.values():
        assert key.rsplit("_", 1)[1] not in log
