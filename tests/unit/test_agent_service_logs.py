"""Log shipping from agents (``launchq.service.agents.merge_log``, ``ship_log``) and reading it
back (``launchq.service.runs.shipped_log``).

Split from test_agent_service.py: an agent's chunks may be retried, overlap, leave gaps or
outgrow the kept tail, and ``runs logs`` must serve what was merged exactly as it serves a
local run's log. The control plane these tests need is built as in test_agent_service.py.
"""

from __future__ import annotations

import pytest

from launchq.bootstrap import Services
from launchq.errors import NotFound
from launchq.port_values import LOG_TAIL_CHARS
from launchq.ports import LogTail
from launchq.service.agents import gap_marker, merge_log
from launchq.service.runs import shipped_log
from tests.unit.fakes import Clock, FakeTarget
from tests.unit.test_agent_service import SPEC, control_plane_with_queues, started


@pytest.fixture
def svc() -> Services:
    return control_plane_with_queues(FakeTarget(), Clock())


def test_log_chunks_append_and_a_retry_changes_nothing() -> None:
    tail = merge_log(None, 0, "hello ")
    assert tail == LogTail(text="hello ", end=6)
    tail = merge_log(tail, 6, "world\n")
    assert tail == LogTail(text="hello world\n", end=12)
    assert merge_log(tail, 6, "world\n") is None
    assert merge_log(tail, 0, "hello ") is None


def test_an_overlapping_chunk_is_trimmed_and_a_gap_is_marked() -> None:
    tail = LogTail(text="abcdef", end=6)
    assert merge_log(tail, 4, "efgh") == LogTail(text="abcdefgh", end=8)
    gapped = merge_log(tail, 10, "xyz")
    assert gapped == LogTail(text="abcdef" + gap_marker(4) + "xyz", end=13)
    assert "[... 4 characters not shipped ...]" in gapped.text


def test_only_the_last_64_kib_of_a_log_is_kept() -> None:
    tail = merge_log(None, 0, "a" * LOG_TAIL_CHARS)
    tail = merge_log(tail, LOG_TAIL_CHARS, "b" * 10)
    assert tail is not None
    assert (len(tail.text), tail.end, tail.text[-11:]) == (
        LOG_TAIL_CHARS,
        LOG_TAIL_CHARS + 10,
        "a" + "b" * 10,
    )


def test_the_shipped_log_is_read_from_an_offset() -> None:
    tail = LogTail(text="0123456789", end=110)  # the first 100 characters are gone
    assert shipped_log(tail, 105) == ("56789", 110)
    assert shipped_log(tail, 110) == ("", 110)
    text, end = shipped_log(tail, 40)
    assert (text, end) == ("[... 60 earlier characters not kept ...]\n0123456789", 110)
    assert shipped_log(None, 0) == ("", 0)
    marked = LogTail(text="ab" + gap_marker(3) + "c", end=6)  # the marker is longer than its gap
    assert shipped_log(marked, 0) == (marked.text, 6)
    assert shipped_log(marked, 5) == ("c", 6)


def test_shipped_logs_are_what_runs_logs_serves_for_an_agents_run(svc: Services) -> None:
    svc.runs.enqueue("gpu", SPEC)
    run = started(svc)
    assert svc.agents.ship_log("a", run.id, 0, "step 1\n") == 7
    assert svc.agents.ship_log("a", run.id, 0, "step 1\n") == 7  # a retry
    assert svc.agents.ship_log("a", run.id, 7, "step 2\n") == 14
    _, text, end = svc.runs.logs(run.id)
    assert (text, end) == ("step 1\nstep 2\n", 14)
    assert svc.runs.logs(run.id, 7)[1:] == ("step 2\n", 14)
    with pytest.raises(NotFound):
        svc.agents.ship_log("a", "no-such-run", 0, "x")
