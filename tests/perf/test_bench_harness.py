"""Smoke of the ``make bench`` harness (collected only by ``make bench``: tests/perf is not in testpaths).

GIVEN the real harness, servers and peers at smoke sizes, WHEN they run, THEN the results
exist and parse, and every peer job ran exactly once. Nothing here asserts a speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

from tests.functional.test_makefile_setup import _apt_calls, _installed
from tests.perf import bench
from tests.perf.figures import Figure, Scale, summarise
from tests.perf.peers_bench import PEERS, check_exactly_once, measure

ROOT = Path(__file__).resolve().parents[2]


def test_harness_writes_table_json_and_plots(tmp_path: Path) -> None:
    groups = [g for g in bench.discover()[0] if g != "peers"]
    argv = ["--quick", "--repetitions", "2", "--only", ",".join(groups), "--out", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-m", "tests.perf.bench", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("cores: "), lines[0]
    document = json.loads((tmp_path / "figures.json").read_text())
    figures = [Figure.model_validate(item) for item in document["figures"]]
    assert document["failures"] == {}
    assert {f.group for f in figures} == set(groups)
    for f in figures:
        assert f.low <= f.median <= f.high, f
        assert f.line() in lines  # printed as it arrived
    assert {f.repetitions for f in figures if f.group == "http"} == {2}
    table = (tmp_path / "results.md").read_text()
    assert "| throughput, max_jobs 8 |" in table
    assert f"cores: {document['machine']['cores']}" in table
    plot = matplotlib.image.imread(tmp_path / "launchq-throughput.png")
    assert plot.shape[0] > 100
    assert plot.shape[1] > 100
    assert "![launchq-throughput](launchq-throughput.png)" in table


@pytest.mark.parametrize("name", sorted(PEERS))
def test_a_quick_peer_run_executes_every_job_exactly_once(tmp_path: Path, name: str) -> None:
    with PEERS[name](tmp_path) as peer:
        samples = measure(peer, count=20, workers=2, repetitions=1, log=tmp_path / "workers.log")

        assert len(samples) == 1
        assert samples[0] > 0
        assert sorted(peer.done_ids()) == list(range(20))


class _Recorded:
    """A peer whose workers ran job 1 twice and never ran job 2."""

    name = "fake"

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids

    def done_ids(self) -> list[int]:
        return self.ids


def test_exactly_once_check_catches_repeats_and_gaps() -> None:
    check_exactly_once(_Recorded([2, 0, 1]), 3)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="1 repeated, 1 missing"):
        check_exactly_once(_Recorded([0, 1, 1]), 3)  # type: ignore[arg-type]


def _throughput(group: str, series: str, x: float, median: float, low: float, high: float) -> Figure:
    return Figure(
        group=group, name=f"{series} {x}", unit="runs/s", median=median, low=low, high=high,
        repetitions=3, series=series, x=x,
    )  # fmt: skip


def test_ratios_pair_launchq_and_each_peer_at_the_same_worker_count() -> None:
    figures = [
        _throughput("http", "launchq throughput", 4, 10, 8, 12),
        _throughput("peers", "rq throughput", 4, 5, 4, 6),
        _throughput("peers", "rq throughput", 2, 5, 4, 6),  # no launchq figure at K=2
    ]

    (ratio,) = bench.ratios(figures)

    assert (ratio.name, ratio.unit, ratio.x) == ("launchq / rq, K 4", "ratio", 4)
    assert (ratio.median, ratio.low, ratio.high) == (2, 8 / 6, 3)


def test_an_unknown_group_is_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        bench.parse(["--only", "http,nonsense"])

    assert exited.value.code == 2
    assert "--only: no bench group nonsense" in capsys.readouterr().err


def test_apt_bench_asks_apt_only_for_a_missing_server(tmp_path: Path) -> None:
    assert _apt_calls(tmp_path / "all", "apt-bench", hidden=set()) == []
    no_redis = _apt_calls(tmp_path / "redis", "apt-bench", hidden={"redis-server"})
    assert _installed(no_redis) == {"redis-server"}
    # Debian keeps initdb in /usr/lib/postgresql/<version>/bin, off PATH: found there, not reinstalled
    assert _apt_calls(tmp_path / "initdb", "apt-bench", hidden={"initdb", "postgres"}) == []


def test_a_failing_group_is_reported_and_the_others_still_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def good(_scale: Scale) -> list[Figure]:
        return [summarise("good", "throughput", "runs/s", [3.0, 1.0, 2.0])]

    def bad(_scale: Scale) -> list[Figure]:
        raise RuntimeError("server fell over\nsecond line")

    found = ({"good": good, "bad": bad}, {"broken": "import failed: SyntaxError"})
    monkeypatch.setattr(bench, "discover", lambda: found)
    monkeypatch.setattr(bench, "groups_on_disk", lambda: ["good", "bad", "broken"])

    code = bench.main(["--out", str(tmp_path)])

    assert code == 1
    document = json.loads((tmp_path / "figures.json").read_text())
    assert document["failures"] == {
        "broken": "import failed: SyntaxError",
        "bad": "RuntimeError: server fell over",
    }
    (figure,) = document["figures"]
    assert (figure["group"], figure["median"], figure["low"], figure["high"]) == ("good", 2.0, 1.0, 3.0)
    table = (tmp_path / "results.md").read_text()
    assert "- bad: RuntimeError: server fell over" in table
    assert "| throughput | 2 | 1 | 3 | 3 | runs/s |  |" in table
