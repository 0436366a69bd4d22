"""The place in line an enqueue answers with, through a real ``launchq serve``.

``position`` is computed on every enqueue (the answer of ``POST /queues/{name}/runs``) and
was rewritten into two range counts on the queued-runs index to keep enqueues cheap on a
deep queue; these tests hold the answer to the rule "priority first, then arrival", both
one at a time and under concurrent enqueues.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.functional.helpers import create_queue, enqueue, py, wait_state

RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def _hold_the_slot(api: httpx.Client, queue: str) -> str:
    """A one-slot queue whose slot is taken, so everything enqueued after stays queued."""
    create_queue(api, queue, max_jobs=1)
    blocker = enqueue(api, queue, entry_point=py("import time; time.sleep(60)"))["id"]
    wait_state(api, blocker, {"running"})
    return str(blocker)


def test_enqueue_answers_the_place_by_priority_then_arrival(api: httpx.Client) -> None:
    # GIVEN a queue whose only slot is busy
    blocker = _hold_the_slot(api, "line")

    # WHEN runs of mixed priorities are enqueued one after another
    answers = [
        enqueue(api, "line", entry_point=["true"], priority=priority)["position"]
        for priority in ("low", "medium", "high", "critical", "medium", "low")
    ]

    # THEN each answer counts the queued runs ahead of it: higher priorities, then earlier equals
    assert answers == [1, 1, 1, 1, 4, 6]
    # AND the listing agrees once everyone is in line
    listed = api.get("/runs", params={"queue": "line", "state": "queued"}).json()["runs"]
    by_place = sorted(listed, key=lambda run: run["position"])
    assert [run["priority"] for run in by_place] == ["critical", "high", "medium", "medium", "low", "low"]
    api.post(f"/runs/{blocker}/stop")


def test_concurrent_enqueues_each_get_a_place_and_the_line_is_ordered(api: httpx.Client) -> None:
    # GIVEN a queue whose only slot is busy
    blocker = _hold_the_slot(api, "burst")
    priorities = [list(RANK)[i % 4] for i in range(48)]

    # WHEN 48 runs are enqueued from 8 client threads at once
    with ThreadPoolExecutor(8) as pool:
        created = list(
            pool.map(lambda p: enqueue(api, "burst", entry_point=["true"], priority=p), priorities)
        )

    # THEN every enqueue was taken once, each answered with a place within the line so far
    assert len({run["id"] for run in created}) == 48
    assert all(1 <= run["position"] <= 48 for run in created)
    # AND the line holds places 1..48, priority first
    listed = api.get("/runs", params={"queue": "burst", "state": "queued"}).json()["runs"]
    assert sorted(run["position"] for run in listed) == list(range(1, 49))
    ranks = [RANK[run["priority"]] for run in sorted(listed, key=lambda run: run["position"])]
    assert ranks == sorted(ranks)
    api.post(f"/runs/{blocker}/stop")
