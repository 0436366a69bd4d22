"""What ``make bench`` leaves behind: ``results.md``, ``figures.json`` and PNG plots.

The markdown has one table per group, the machine it ran on and the date, so a figure is
never read without its context (a 2-core machine shared with other work is not a quiet
benchmark box). Plots use matplotlib's Agg backend (no display needed): one per series
with at least two x points (a log x axis when x spans two decades or more, as queue
depth does), and one bar chart of throughput, launchq against its peers.
"""

from __future__ import annotations

import json
import os
import platform
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # the backend is chosen before pyplot loads

from tests.perf.figures import Figure, number

THROUGHPUT_UNITS = ("runs/s", "jobs/s")
COMPARED_GROUPS = ("http", "peers")
WORKLOAD = (
    "What each system calls a job: for launchq, a run of `true` as its own process, started by the "
    "local-process target through `launchq serve` (HTTP enqueue, SQLite store); for procrastinate and "
    "RQ, a Python function that records its id (RQ's default worker forks a work horse per job). "
    "Both sides: N jobs over 4 priorities, K workers (launchq: `max_jobs` K), from the first enqueue "
    "until the last job ended, every job checked to have run exactly once."
)


def machine_info() -> dict[str, str]:
    """The lines a reader needs to weigh the figures: cores, CPU, Python, load at start."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        model = found.group(1).strip() if found else model
    return {
        "cores": f"{os.cpu_count()} (usable {len(os.sched_getaffinity(0))})",
        "cpu": model,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
        "load average at start": load_average(),
    }


def load_average() -> str:
    """1, 5 and 15 minutes: other work on the machine shows here, not in the figures' spread."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def machine_line(machine: dict[str, str]) -> str:
    return "; ".join(f"{key}: {value}" for key, value in machine.items())


def table(figures: Sequence[Figure]) -> list[str]:
    lines = ["| name | median | min | max | n | unit | note |", "|---|---:|---:|---:|---:|---|---|"]
    for f in figures:
        cells = [f.name, number(f.median), number(f.low), number(f.high), str(f.repetitions), f.unit, f.note]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return lines


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "plot"


def plot_series(figures: Sequence[Figure], out: Path) -> list[Path]:
    """One line plot per series that has at least two x points, min-max as error bars."""
    series: dict[str, list[Figure]] = defaultdict(list)
    for f in figures:
        if f.series is not None and f.x is not None:
            series[f.series].append(f)
    paths = []
    for name, points in series.items():
        points.sort(key=lambda f: f.x or 0.0)
        xs = [f.x or 0.0 for f in points]
        if len(set(xs)) < 2:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        ys = [f.median for f in points]
        spread = [[f.median - f.low for f in points], [f.high - f.median for f in points]]
        ax.errorbar(xs, ys, yerr=spread, marker="o", capsize=3)
        if min(xs) > 0 and max(xs) / min(xs) >= 100:
            ax.set_xscale("log")
        ax.set_title(name)
        ax.set_ylabel(points[0].unit)
        if points[0].x_label:
            ax.set_xlabel(points[0].x_label)
        elif points[0].group in COMPARED_GROUPS:
            ax.set_xlabel("K: launchq's max_jobs, a peer's workers")
        ax.set_ylim(bottom=0)
        ax.grid(visible=True, alpha=0.3)
        path = out / f"{slug(name)}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_throughput(figures: Sequence[Figure], out: Path) -> Path | None:
    """Grouped bars: runs (jobs) per second by worker count, launchq beside each peer."""
    systems: dict[str, dict[float, Figure]] = defaultdict(dict)
    for f in figures:
        if f.group in COMPARED_GROUPS and f.unit in THROUGHPUT_UNITS and f.series and f.x is not None:
            systems[f.series.removesuffix(" throughput")][f.x] = f
    if not systems:
        return None
    workers = sorted({x for points in systems.values() for x in points})
    width = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (system, points) in enumerate(systems.items()):
        where = [j + i * width for j, x in enumerate(workers) if x in points]
        bars = [points[x] for x in workers if x in points]
        spread = [[f.median - f.low for f in bars], [f.high - f.median for f in bars]]
        ax.bar(where, [f.median for f in bars], width, yerr=spread, capsize=3, label=system)
    ax.set_xticks([j + width * (len(systems) - 1) / 2 for j in range(len(workers))])
    ax.set_xticklabels([f"K={x:g}" for x in workers])
    ax.set_ylabel("no-op jobs per second")
    ax.set_title("Throughput: launchq (max_jobs K) and peers (K workers)")
    ax.legend()
    path = out / "throughput-launchq-vs-peers.png"
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def markdown(
    figures: Sequence[Figure],
    machine: dict[str, str],
    failures: dict[str, str],
    plots: Sequence[Path],
    command: str,
) -> str:
    groups: dict[str, list[Figure]] = defaultdict(list)
    for f in figures:
        groups[f.group].append(f)
    lines = [
        "# launchq bench results",
        "",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Command: `{command}`.",
        "",
        f"Machine: {machine_line(machine)}.",
        "",
        "Every figure is the median of n repetitions with their min and max; nothing is asserted.",
        "",
        WORKLOAD,
    ]
    for group, items in groups.items():
        lines += ["", f"## {group}", "", *table(items)]
    if failures:
        lines += ["", "## failed groups", ""] + [f"- {group}: {why}" for group, why in failures.items()]
    if plots:
        lines += ["", "## plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    return "\n".join(lines) + "\n"


def write_results(
    out: Path, figures: Sequence[Figure], machine: dict[str, str], failures: dict[str, str], command: str
) -> list[Path]:
    """Write everything into ``out``; the paths written, results.md first."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.png"):  # a plot of an earlier run must not pass for this one's
        stale.unlink()
    plots = plot_series(figures, out)
    bars = plot_throughput(figures, out)
    if bars is not None:
        plots.insert(0, bars)
    document = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine,
        "failures": failures,
        "figures": [f.model_dump() for f in figures],
    }
    (out / "figures.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / "results.md").write_text(markdown(figures, machine, failures, plots, command))
    return [out / "results.md", out / "figures.json", *plots]
