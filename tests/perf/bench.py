"""The ``make bench`` harness: run every bench group, print one line per figure, write results.

``python -m tests.perf.bench [--quick] [--only http,peers] [--repetitions N] [--out DIR]``

A group is a module ``tests/perf/<group>_bench.py`` with ``run(scale) -> list[Figure]``;
modules are found here, not listed, so a group another engineer adds is picked up when it
lands. Groups run in a fixed order (http, enqueue, store, dynamodb, peers, then any other by name)
so that the slowest, the peers, come last and the launchq / peer ratios can be computed
from the http and peers figures once both ran. A group that fails is reported, the others
still run and are written out, and the exit status is 1. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.perf.figures import Figure, Scale
from tests.perf.results import load_average, machine_info, machine_line, write_results

HERE = Path(__file__).resolve().parent
ORDER = ("http", "enqueue", "store", "dynamodb", "peers")
LAUNCHQ_SERIES = ("http", "launchq throughput")  # (group, series) of launchq's runs/s by max_jobs
PEER_SUFFIX = " throughput"

Runner = Callable[[Scale], list[Figure]]


def groups_on_disk() -> list[str]:
    """Every ``*_bench.py`` here but pytest's own (``test_*``), as group names, in the harness's order."""
    found = {p.stem.removesuffix("_bench") for p in HERE.glob("*_bench.py") if not p.stem.startswith("test_")}
    return [g for g in ORDER if g in found] + sorted(found - set(ORDER))


def load(group: str) -> Runner | None:
    """The group's ``run``, or None for a ``*_bench.py`` that is a script, not a group."""
    module = importlib.import_module(f"tests.perf.{group}_bench")
    runner = getattr(module, "run", None)
    return runner if callable(runner) else None


def discover() -> tuple[dict[str, Runner], dict[str, str]]:
    """The groups by name, in order, and the modules that failed to import (with why).

    A module that does not import is still a group: it is reported as failed, not dropped,
    so a half-finished module of a colleague never silently shrinks the results.
    """
    runners: dict[str, Runner] = {}
    broken: dict[str, str] = {}
    for group in groups_on_disk():
        try:
            runner = load(group)
        except Exception as exc:
            broken[group] = f"import failed: {type(exc).__name__}: {exc}".splitlines()[0]
            continue
        if runner is not None:
            runners[group] = runner
    return runners, broken


def ratios(figures: Sequence[Figure]) -> list[Figure]:
    """launchq / peer throughput at each matching K, from the http and peers groups.

    The median is the ratio of the medians; min and max are the extreme ratios the
    repetitions allow (launchq's min over the peer's max, and the other way round).
    """
    group, series = LAUNCHQ_SERIES
    ours = {f.x: f for f in figures if f.group == group and f.series == series}
    out = []
    for peer in figures:
        if peer.group != "peers" or not (peer.series or "").endswith(PEER_SUFFIX) or peer.x not in ours:
            continue
        mine, name = ours[peer.x], (peer.series or "").removesuffix(PEER_SUFFIX)
        out.append(
            Figure(
                group="peers",
                name=f"launchq / {name}, K {peer.x:g}",
                unit="ratio",
                median=mine.median / peer.median,
                low=mine.low / peer.high,
                high=mine.high / peer.low,
                repetitions=min(mine.repetitions, peer.repetitions),
                series=f"launchq / {name}",
                x=peer.x,
                note=f"launchq runs/s at max_jobs {peer.x:g} over {name} jobs/s with as many workers",
            )
        )
    return out


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke sizes (the harness's own test)")
    parser.add_argument("--only", default="", help="comma-separated groups, e.g. http,peers")
    parser.add_argument("--repetitions", type=int, default=Scale.repetitions, help="samples per figure")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="where results go")
    args = parser.parse_args(argv)
    if args.repetitions < 1:
        parser.error(f"--repetitions: must be at least 1, not {args.repetitions}")
    runners, broken = discover()
    available = [g for g in groups_on_disk() if g in runners or g in broken]
    wanted = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = [g for g in wanted if g not in available]
    if unknown:
        parser.error(f"--only: no bench group {', '.join(unknown)} (groups: {', '.join(available)})")
    chosen = [g for g in available if g in wanted] if wanted else available
    args.runners = {g: runners[g] for g in chosen if g in runners}
    args.broken = {g: broken[g] for g in chosen if g in broken}
    return args


def run_group(group: str, runner: Runner, scale: Scale) -> list[Figure]:
    """One group's figures, each printed as it is returned; raises what the group raised."""
    print(f"# {group}", flush=True)
    began = time.monotonic()
    figures = runner(scale)
    for figure in figures:
        print(figure.line(), flush=True)
    print(f"# {group}: {len(figures)} figures in {time.monotonic() - began:.0f} s", flush=True)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    scale = Scale(quick=args.quick, repetitions=args.repetitions)
    machine = machine_info()
    print(machine_line(machine), flush=True)
    figures: list[Figure] = []
    failures: dict[str, str] = dict(args.broken)
    for group, why in failures.items():
        print(f"# {group}: FAILED ({why})", flush=True)
    for group, runner in args.runners.items():
        try:
            figures += run_group(group, runner, scale)
        except Exception as exc:  # one broken group must not lose the others' figures
            traceback.print_exc()
            failures[group] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            print(f"# {group}: FAILED ({failures[group]})", flush=True)
    for figure in ratios(figures):
        print(figure.line(), flush=True)
        figures.append(figure)
    machine["load average at end"] = load_average()  # a shared machine: was it busy throughout?
    command = shlex.join(["python", "-m", "tests.perf.bench", *(sys.argv[1:] if argv is None else argv)])
    written = write_results(args.out, figures, machine, failures, command)
    print(f"wrote {', '.join(str(p) for p in written)}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
