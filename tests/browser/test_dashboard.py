"""The dashboard in a real headless Chromium against a real ``launchq serve``.

Every page is driven as a user would (forms, links, buttons) and checked against what the JSON
API says; each test saves its page's screenshot under pytest's tmp dir. With
``LAUNCHQ_README_SCREENSHOT=1`` the runs page's is also copied to
``docs/images/dashboard-runs.png`` for the README (never by default: a test run leaves the
checkout as it found it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import REPO, chromium_executable
from tests.functional.helpers import create_queue, enqueue, py, wait_state
from tests.servers import launchq_serve_process

PRINTER = "import time\nfor i in range(600):\n    print(f'line {i}', flush=True)\n    time.sleep(0.25)"


def hold(release: Path) -> list[str]:
    """An entry point that runs until ``release`` exists."""
    return py(f"import os,time\nwhile not os.path.exists({str(release)!r}): time.sleep(0.05)")


def shoot(page: Page, screenshots: Path, name: str) -> Path:
    path = screenshots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def test_a_queue_is_created_through_the_form_and_a_bad_config_is_shown_at_its_field(
    page: Page, server: str, api: httpx.Client, screenshots: Path
) -> None:
    page.goto(f"{server}/#/queues")
    expect(page.locator("#queues-table")).to_contain_text("default")

    # WHEN a config the server refuses is sent through the form
    page.get_by_label("Name").fill("gpu")
    page.get_by_label("max_jobs").fill("2")
    page.get_by_label("Config (JSON or YAML)").fill("env: {A: '1'}\nno_such_key: 3")
    page.get_by_role("button", name="Create queue").click()

    # THEN the server's own words appear next to the config editor, tied to it for screen readers
    refused = api.post(
        "/queues", json={"name": "gpu", "resource": "local-process", "config": "no_such_key: 3"}
    ).json()
    assert refused["field"] == "config.no_such_key"
    editor = page.locator("#queue-config")
    expect(page.locator("#config-error")).to_have_text(refused["detail"])
    expect(editor).to_have_attribute("aria-invalid", "true")
    assert "config-error" in (editor.get_attribute("aria-describedby") or "").split()
    expect(page.locator("#name-error")).to_be_empty()
    assert api.get("/queues/gpu").status_code == 404  # nothing stored half-way
    shoot(page, screenshots, "queues-invalid-config")

    # WHEN the config is fixed (YAML, as typed) and sent again
    editor.fill("env: {A: '1'}")
    page.get_by_role("button", name="Create queue").click()

    # THEN the queue exists as typed and the list shows it without a reload
    row = page.locator("#queues-table tr", has=page.get_by_role("link", name="gpu", exact=True))
    expect(row).to_contain_text("local-process")
    expect(row.locator("td").nth(1)).to_have_text("2")
    queue = api.get("/queues/gpu").json()
    assert (queue["max_jobs"], queue["config"]) == (2, {"env": {"A": "1"}})
    expect(editor).not_to_have_attribute("aria-invalid", "true")
    shoot(page, screenshots, "queues")


@pytest.fixture
def busy_queue(api: httpx.Client, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Queue ``line`` with three finished runs (history for an ETA), its one slot held by a
    run, and four runs waiting behind it."""
    create_queue(api, "line", max_jobs=1)
    for n in range(3):
        done = enqueue(api, "line", entry_point=py("import time; time.sleep(1)"), name=f"earlier-{n}")
        wait_state(api, done["id"], {"finished"}, timeout=60)
    release = tmp_path / "release"
    blocker = enqueue(api, "line", entry_point=hold(release), name="blocker")
    wait_state(api, blocker["id"], {"running"})
    ids = {"blocker": blocker["id"]}
    for priority in ("low", "critical", "high", "medium"):
        ids[priority] = enqueue(
            api, "line", entry_point=py("print('done')"), priority=priority, name=priority
        )["id"]
    yield ids
    release.touch()


def test_runs_show_in_priority_order_with_positions_and_update_live(
    page: Page, server: str, api: httpx.Client, busy_queue: dict[str, str], screenshots: Path, tmp_path: Path
) -> None:
    page.goto(f"{server}/#/runs?queue=line")
    rows = page.locator("#runs-table tbody tr[data-state=queued]")
    expect(rows).to_have_count(4)

    # THEN the queued runs read in the order they start, each with its position from the API
    names = [n.split(" ")[0] for n in rows.locator("th").all_inner_texts()]
    assert names == ["critical", "high", "medium", "low"]
    assert rows.locator("td.position").all_inner_texts() == ["1", "2", "3", "4"]
    for priority in names:
        run = api.get(f"/runs/{busy_queue[priority]}").json()
        row = page.locator(f"tr[data-run='{run['id']}']")
        expect(row.locator("td.position")).to_have_text(str(run["position"]))
        # the waiting reason is the API's own words, when the API gives one
        expected = (run.get("waiting") or {}).get("reason") or ""
        expect(row.locator("td.waiting")).to_have_text(expected)
        expect(row.locator("td.eta")).to_have_text(
            re.compile(r"^(in \d+ (s|min)|due) \(.+\)$" if run.get("eta") else r"^$")
        )
    expect(page.locator("#filter-queue")).to_have_value("line")
    shoot(page, screenshots, "runs")
    if os.environ.get("LAUNCHQ_README_SCREENSHOT") == "1":
        shutil.copyfile(screenshots / "runs.png", REPO / "docs" / "images" / "dashboard-runs.png")

    # WHEN the slot frees, the table follows without reloading the page
    page.evaluate("window.__sameDocument = true")
    (tmp_path / "release").touch()
    expect(page.locator("#runs-table tbody tr[data-state=finished]")).to_have_count(8, timeout=60_000)
    expect(page.locator("#runs-table tbody tr[data-state=queued]")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True

    # WHEN the state filter is used, only runs in that state remain
    page.get_by_label("State").select_option("queued")
    expect(page.locator("#runs-table tbody")).to_contain_text("No runs match.")
    assert "state=queued" in page.url


def _with_waiting(route: Route) -> None:
    """The real ``GET /runs`` answer, with ``waiting``/``eta`` on its queued runs in the API's shape."""
    response = route.fetch()
    body: dict[str, Any] = response.json()
    for run in body["runs"]:
        queued = run["state"] == "queued"
        run["waiting"] = (
            {
                "kind": "ahead",
                "reason": f"{run['position'] - 1} runs ahead of it",
                "since": None,
                "events": [],
            }
            if queued
            else None
        )
        run["eta"] = "2999-01-01T00:00:00Z" if queued else None
    route.fulfill(response=response, body=json.dumps(body))


def test_waiting_and_eta_are_rendered_when_the_api_gives_them_and_nothing_when_null(
    page: Page, server: str, busy_queue: dict[str, str]
) -> None:
    page.route("**/runs?*", _with_waiting)
    page.goto(f"{server}/#/runs?queue=line")
    first = page.locator(f"tr[data-run='{busy_queue['critical']}']")
    expect(first.locator("td.waiting")).to_have_text("0 runs ahead of it")
    expect(first.locator("td.eta")).to_contain_text("in ")
    expect(page.locator(f"tr[data-run='{busy_queue['low']}'] td.waiting")).to_have_text("3 runs ahead of it")
    running = page.locator(f"tr[data-run='{busy_queue['blocker']}']")
    expect(running.locator("td.waiting")).to_have_text("")
    expect(running.locator("td.eta")).to_have_text("")


def test_a_run_page_follows_the_log_and_stops_the_run(
    page: Page, server: str, api: httpx.Client, screenshots: Path
) -> None:
    create_queue(api, "talk", config={"env": {"GREETING": "hello"}})
    run = enqueue(api, "talk", entry_point=py(PRINTER), name="talker")
    page.goto(f"{server}/#/runs")
    page.get_by_role("link", name=f"talker ({run['id'][:8]})").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("talker")

    # THEN the log tail grows while the run runs, without a reload
    log = page.locator("#run-log")
    expect(log).to_contain_text("line 2", timeout=30_000)
    last_seen = max(int(n) for n in re.findall(r"line (\d+)", log.inner_text()))
    expect(log).to_contain_text(f"line {last_seen + 4}", timeout=30_000)
    expect(page.locator("#run-config")).to_contain_text('"GREETING": "hello"')
    expect(page.locator("#run-events")).to_contain_text("running")
    shoot(page, screenshots, "run")

    # WHEN Stop is pressed, the run ends stopped and Stop is no longer offered
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("#run-facts [data-fact=State]")).to_have_text("stopped", timeout=30_000)
    expect(page.get_by_role("button", name="Stop")).to_be_disabled()
    assert api.get(f"/runs/{run['id']}").json()["state"] == "stopped"
    expect(page.locator("#run-events")).to_contain_text("stopped")
    shoot(page, screenshots, "run-stopped")


def test_a_dead_lettered_run_is_replayed_from_its_page(page: Page, server: str, api: httpx.Client) -> None:
    create_queue(api, "dl")
    run = enqueue(api, "dl", entry_point=["no-such-program-launchq"])
    wait_state(api, run["id"], {"dead_letter"}, timeout=60)
    page.goto(f"{server}/#/runs/{run['id']}")
    replay = page.get_by_role("button", name="Replay")
    expect(replay).to_be_enabled()
    replay.click()
    expect(page.locator("#run-message")).to_have_text("Run replayed: back in line.")
    expect(page.locator("#run-events")).to_contain_text("replay")


def _first_key(data: Path, base: str) -> str:
    made = subprocess.run(
        [sys.executable, "-m", "launchq.cli.main", "keys", "create", "--data-dir", str(data),
         "--entity", "local", "--role", "admin"],
        capture_output=True, text=True, check=True, env={**os.environ, "LAUNCHQ_URL": base},
    )  # fmt: skip
    return made.stdout.strip()


def test_with_auth_on_the_page_asks_for_a_key_once_and_then_works(
    page: Page, tmp_path: Path, screenshots: Path
) -> None:
    data = tmp_path / "data"
    with launchq_serve_process(data, "--auth", "keys") as (base, _proc):
        key = _first_key(data, base)
        # the JSON API still refuses without a key; the page and its assets do not need one
        assert httpx.get(f"{base}/runs").status_code == 401
        assert httpx.get(f"{base}/queues").status_code == 401
        assert httpx.get(f"{base}/").status_code == 200
        assert httpx.get(f"{base}/dashboard/app.js").status_code == 200
        assert httpx.get(f"{base}/dashboard/secret.txt").status_code == 404

        page.goto(f"{base}/#/queues")
        dialog = page.get_by_role("dialog", name="API key needed")
        expect(dialog).to_be_visible()
        shoot(page, screenshots, "api-key")

        # Escape closes the dialog: the page says why it shows nothing, and asks only when told
        page.keyboard.press("Escape")
        expect(page.locator("#queues-body .error")).to_have_text("an API key is needed to use this server")
        expect(dialog).to_be_hidden()
        page.get_by_role("button", name="Enter API key").click()
        expect(dialog).to_be_visible()

        # a wrong key is refused in the server's words, and asked for again
        page.get_by_label("API key", exact=True).fill("lq_wrong")
        page.get_by_role("button", name="Use this key").click()
        expect(page.locator("#key-error")).to_contain_text("not valid")
        page.get_by_label("API key", exact=True).fill(key)
        page.get_by_role("button", name="Use this key").click()

        expect(dialog).to_be_hidden()
        expect(page.locator("#queues-table")).to_contain_text("default")
        assert page.evaluate("sessionStorage.getItem('launchq.apiKey')") == key
        assert page.evaluate("localStorage.length") == 0
        # another page of the same tab reuses the key without asking
        page.get_by_role("link", name="Runs").click()
        expect(page.locator("#runs-table")).to_be_visible()
        expect(dialog).to_be_hidden()


def test_a_missing_chromium_fails_the_test_rather_than_skipping_it(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="make setup"):
        chromium_executable(tmp_path / "chromium")
