"""``launchq serve --allow-dir DIR``: a run's local ``uri`` must resolve inside DIR.

Against a real server started with ``--allow-dir``: ``/etc`` is refused naming ``uri`` and
nothing is stored; so are a symlink inside the allowed directory that points out of it and
a ``..`` path that climbs out; a directory inside is copied and runs. A link switched to
point outside after the run was accepted is caught when the run is launched.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.functional.helpers import TERMINAL, create_queue, enqueue, py, wait_state
from tests.servers import launchq_serve


@pytest.fixture(scope="module")
def allowed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("allowed")
    (root / "project").mkdir()
    (root / "project" / "data.txt").write_text("inside the allowed dir\n")
    (root / "escape").symlink_to("/etc")
    return root


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, allowed: Path) -> Iterator[httpx.Client]:
    data = tmp_path_factory.mktemp("serve") / "data"
    with (
        launchq_serve(data, "--allow-dir", str(allowed)) as base,
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        yield client


def refused(api: httpx.Client, queue: str, uri: str) -> str:
    """Enqueue ``uri``; it must be a 422 naming ``uri``, with nothing stored. Returns the detail."""
    response = api.post(f"/queues/{queue}/runs", json={"uri": uri, "entry_point": ["true"]})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == "uri"
    assert api.get("/runs", params={"queue": queue}).json()["runs"] == []
    return str(body["detail"])


def test_a_directory_outside_is_refused_naming_uri(api: httpx.Client, allowed: Path) -> None:
    create_queue(api, "outside")
    detail = refused(api, "outside", "/etc")
    assert "'/etc' is outside the directories this server allows" in detail
    assert str(allowed) in detail


def test_a_symlink_out_of_the_allowed_dir_is_refused(api: httpx.Client, allowed: Path) -> None:
    create_queue(api, "links")
    detail = refused(api, "links", str(allowed / "escape"))
    assert "resolves to '/etc'" in detail


def test_dot_dot_out_of_the_allowed_dir_is_refused(api: httpx.Client, allowed: Path) -> None:
    create_queue(api, "climb")
    refused(api, "climb", f"{allowed}/project/../..")


def test_a_directory_inside_is_copied_and_runs(api: httpx.Client, allowed: Path) -> None:
    create_queue(api, "inside")
    run = enqueue(
        api, "inside", uri=str(allowed / "project"), entry_point=py("print(open('data.txt').read())")
    )
    done = wait_state(api, run["id"], TERMINAL)
    assert done["state"] == "finished", done
    assert "inside the allowed dir" in api.get(f"/runs/{run['id']}/logs").json()["text"]


def test_a_link_switched_out_after_enqueue_is_caught_at_launch(
    api: httpx.Client, allowed: Path, tmp_path: Path
) -> None:
    # GIVEN a one-slot queue held by a job that waits for a file, and a run behind it whose
    # uri is a link to a directory inside
    create_queue(api, "switch", max_jobs=1)
    release = tmp_path / "release"
    hold = enqueue(
        api,
        "switch",
        entry_point=py(f"import os, time\nwhile not os.path.exists({str(release)!r}): time.sleep(0.05)"),
    )
    wait_state(api, hold["id"], {"running"})
    link = allowed / "switching"
    link.symlink_to(allowed / "project")
    run = enqueue(api, "switch", uri=str(link), entry_point=["true"])
    # WHEN the link is pointed out of the allowed directory before the run launches
    link.unlink()
    link.symlink_to("/etc")
    release.touch()
    # THEN the run dead-letters naming uri and why; nothing of /etc was copied
    done = wait_state(api, run["id"], TERMINAL)
    assert done["state"] == "dead_letter", done
    assert "uri:" in done["reason"]
    assert "outside the directories this server allows" in done["reason"]
