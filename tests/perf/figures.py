"""The one shape every ``make bench`` measurement reports in, shared by all bench modules.

A bench module (``tests/perf/*_bench.py``) exposes ``run(scale: Scale) -> list[Figure]``;
the harness (``tests/perf/bench.py``) collects the figures, prints one line each, writes
``bench/results/`` (markdown table + PNG plots) and never asserts a speed. A figure is the
median of several repetitions with their min and max, so noise is visible, not hidden.
Figures that share a ``series`` and carry an ``x`` become one line in a plot (for example
claim latency against queue depth).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict


@dataclass(frozen=True)
class Scale:
    """How big a bench run is: ``quick`` is the smoke size the harness's own test uses."""

    quick: bool = False
    repetitions: int = 3

    def pick(self, default: int, quick: int) -> int:
        """``default`` at full size, ``quick`` in the smoke run."""
        return quick if self.quick else default


class Figure(BaseModel):
    """One measured number: median of ``repetitions`` samples, with their min and max."""

    model_config = ConfigDict(frozen=True)

    group: str  # "http", "store", "dynamodb", "peers"
    name: str  # what was measured, e.g. "throughput, max_jobs 8"
    unit: str  # "runs/s", "ms", "WCU/run", "USD per 1M runs", "ratio"
    median: float
    low: float
    high: float
    repetitions: int
    series: str | None = None  # figures sharing a series (and an x) are plotted together
    x: float | None = None
    x_label: str | None = None  # the plot's x axis, e.g. "queued runs"
    note: str = ""

    def line(self) -> str:
        """The one line the harness prints for this figure."""
        spread = f" (min {number(self.low)}, max {number(self.high)}, n={self.repetitions})"
        note = f"  [{self.note}]" if self.note else ""
        return f"{self.group:<9} {self.name:<48} {number(self.median):>12} {self.unit}{spread}{note}"


def number(value: float) -> str:
    """Four significant digits, never in exponent form (16,680 ms reads so, not 1.668e+04)."""
    if value != 0 and abs(value) < 0.001:
        return f"{value:.2e}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def summarise(group: str, name: str, unit: str, samples: Sequence[float], **extra: object) -> Figure:
    """A ``Figure`` from repeated samples (at least one)."""
    if not samples:
        raise ValueError(f"no samples for {group}/{name}")
    return Figure.model_validate(
        {
            "group": group,
            "name": name,
            "unit": unit,
            "median": statistics.median(samples),
            "low": min(samples),
            "high": max(samples),
            "repetitions": len(samples),
            **extra,
        }
    )
