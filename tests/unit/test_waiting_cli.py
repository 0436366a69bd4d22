"""What the CLI prints of ``waiting`` and ``eta``: the listing's WAITING column cut to the
terminal, the ETA in words, and ``runs show``'s two lines."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from launchq.cli.render import RUNS, listing_table, local_time, time_left
from tests.unit.cli_fake_server import FakeApi, cli, run_record

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
LONG = (
    "target says: Unschedulable: 0/4 nodes are available: 4 Insufficient nvidia.com/gpu, 2 node(s) had taints"
)


def _waiting_run(run_id: str, reason: str, eta: datetime | None) -> dict[str, object]:
    return run_record(
        run_id,
        position=3,
        waiting={"kind": "target", "reason": reason, "since": None, "events": []},
        eta=eta.isoformat() if eta else None,
    )


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(-5, "any moment now"), (30, "in <1 min"), (185, "in ~3 min"), (3 * 3600, "in ~3.0 h")],
)
def test_the_eta_is_said_as_time_left(seconds: float, said: str) -> None:
    assert time_left((NOW + timedelta(seconds=seconds)).isoformat(), now=NOW) == said


def test_no_eta_or_a_bad_one_is_a_dash() -> None:
    assert time_left(None) == "-"
    assert local_time(None) == "-"
    assert time_left("soon") == "soon"  # not a time: said as it came, never a traceback


@pytest.mark.parametrize(("width", "whole"), [(250, True), (160, False), (100, False), (80, False)])
def test_the_waiting_column_is_cut_to_fit_the_terminal(width: int, whole: bool) -> None:
    runs = [_waiting_run(f"{i:016x}", LONG, None) for i in range(3)]
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=True, color_system=None, markup=False).print(
        listing_table(RUNS, runs, width=width, tty=True)
    )
    lines = out.getvalue().splitlines()
    assert "waiting" in lines[0].split()
    assert all(len(line) <= width for line in lines), out.getvalue()
    assert len(lines) == 2 + len(runs)  # one line a run: the reason is cut, never wrapped
    assert all(" queued " in line and " target " in line + " " for line in lines[2:])
    assert (LONG in out.getvalue()) is whole
    assert ("…" in out.getvalue()) is not whole


def test_runs_show_prints_waiting_and_eta_in_local_time(fake: FakeApi) -> None:
    eta = datetime.now(UTC) + timedelta(minutes=12, seconds=20)
    fake.reply("GET", "/runs/r1", 200, _waiting_run("r1", "queue at max_jobs 2/2", eta))

    result = cli(fake, "runs", "show", "r1")

    assert result.exit_code == 0, result.output
    pairs = [line.strip().split(maxsplit=1) for line in result.stdout.splitlines()]
    lines = {pair[0]: pair[1].strip() for pair in pairs if len(pair) == 2}
    assert lines["waiting"] == "queue at max_jobs 2/2"
    assert lines["eta"] == f"{eta.astimezone().strftime('%Y-%m-%d %H:%M:%S %Z')} (in ~12 min)"


def test_runs_show_prints_neither_for_a_run_that_waits_for_nothing(fake: FakeApi) -> None:
    fake.reply("GET", "/runs/r1", 200, run_record("r1", state="running", waiting=None, eta=None))

    result = cli(fake, "runs", "show", "r1")

    assert result.exit_code == 0, result.output
    assert not [line for line in result.stdout.splitlines() if line.startswith(("waiting", "eta"))]
