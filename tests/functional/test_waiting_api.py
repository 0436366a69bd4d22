"""``waiting`` and ``eta`` through a real ``launchq serve``: the API, its OpenAPI schema, and
what ``launchq runs show`` / ``runs list`` print from them."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from typer.testing import CliRunner

from launchq.cli.main import app
from tests.functional.helpers import TERMINAL, create_queue, enqueue, py, wait_state


def test_a_queued_run_behind_others_says_why_and_when(api: httpx.Client, server: str) -> None:
    # GIVEN a one-slot queue with three finished runs (its history), and a long job holding the slot
    create_queue(api, "line", max_jobs=1)
    for _ in range(3):
        done = enqueue(api, "line", entry_point=py("pass"))["id"]
        assert wait_state(api, done, TERMINAL)["state"] == "finished"
    blocker = enqueue(api, "line", entry_point=py("import time; time.sleep(60)"))["id"]
    running = wait_state(api, blocker, {"running"})
    # AND a critical and a high run enqueued before a medium one, and a low one after it
    enqueue(api, "line", entry_point=["true"], priority="critical")
    enqueue(api, "line", entry_point=["true"], priority="high")
    mine = enqueue(api, "line", entry_point=["true"])["id"]
    enqueue(api, "line", entry_point=["true"], priority="low")
    asked_at = datetime.now(UTC)

    # WHEN the medium run is read
    got = api.get(f"/runs/{mine}").json()

    # THEN it says what is ahead of it (the low run behind it does not count), with the event
    assert got["waiting"]["kind"] == "ahead"
    assert got["waiting"]["reason"] == "2 runs ahead of it (1 critical, 1 high)"
    assert [event["to_state"] for event in got["waiting"]["events"]] == ["queued"]
    assert got["waiting"]["since"] == got["waiting"]["events"][0]["at"]
    # AND an estimated start from the queue's history, not before now
    assert got["eta"] is not None
    assert datetime.fromisoformat(got["eta"]) >= asked_at.replace(microsecond=0)
    # AND the running job waits for nothing
    assert (running["waiting"], running["eta"]) == (None, None)

    # the listing says the same, without events
    listed = {run["id"]: run for run in api.get("/runs", params={"queue": "line"}).json()["runs"]}
    assert listed[mine]["waiting"]["reason"] == "2 runs ahead of it (1 critical, 1 high)"
    assert listed[mine]["waiting"]["events"] == []
    assert listed[mine]["eta"] is not None
    assert listed[blocker]["waiting"] is None

    # and the CLI prints both
    shown = CliRunner().invoke(app, ["--url", server, "runs", "show", mine])
    assert shown.exit_code == 0, shown.output
    assert "2 runs ahead of it (1 critical, 1 high)" in shown.stdout
    (eta_line,) = [line for line in shown.stdout.splitlines() if line.startswith("eta ")]
    assert eta_line.endswith(("min)", "(any moment now)")), eta_line
    plain = CliRunner().invoke(app, ["--url", server, "runs", "list", "-q", "line", "-o", "plain"])
    assert plain.exit_code == 0, plain.output
    header, *rows = plain.stdout.splitlines()
    assert header.split("\t")[7:9] == ["waiting", "eta"]
    (row,) = [row for row in rows if row.startswith(mine)]
    assert row.split("\t")[7] == "2 runs ahead of it (1 critical, 1 high)"
    api.post(f"/runs/{blocker}/stop")


def test_the_openapi_schema_describes_waiting_and_eta(api: httpx.Client) -> None:
    schemas = api.get("/openapi.json").json()["components"]["schemas"]
    run = schemas["RunView"]["properties"]
    assert {"waiting", "eta"} <= set(run)
    waiting = schemas["WaitingView"]
    assert set(waiting["required"]) == {"kind", "reason", "since", "events"}
    assert set(waiting["properties"]["kind"]["enum"]) == {
        "ahead", "queue_full", "agent_full", "building", "admission", "target", "retry", "dispatcher",
    }  # fmt: skip
