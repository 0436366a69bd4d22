"""The per-module score of ``make mutation``, with the mutants judged equivalent set apart.

mutmut leaves one result file per module under ``mutants/``; ``mutmut results`` lists the
survivors but gives no score. This prints, for every module in ``[tool.mutmut].only_mutate``,
how many mutants the unit and contract tests killed, how many survived, how many of the
survivors are listed in ``equivalent.toml`` (a mutant no test can tell apart from the
original, each with the reason it was judged so) and the score: killed out of the
non-equivalent ones. A survivor that is not listed is a gap in the tests; a listed mutant
that is now killed is reported too, so the list never hides a real one.

Run from the directory mutmut ran in (``make mutation`` does): ``python -m tests.mutation.report``.
It exits 1 when a module scores under ``--min`` percent.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from mutmut.__main__ import status_by_exit_code
from mutmut.mutation.data import SourceFileMutationData

EQUIVALENT_FILE = Path(__file__).with_name("equivalent.toml")
#: Outcomes that mean the tests noticed the mutant (a hang or a type error counts).
DETECTED = frozenset({"killed", "timeout", "caught by type check", "segfault"})


@dataclass
class ModuleScore:
    module: str
    killed: int = 0
    equivalent: int = 0
    survivors: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    @property
    def survived(self) -> int:
        return len(self.survivors)

    @property
    def total(self) -> int:
        return self.killed + self.equivalent + self.survived + len(self.unchecked)

    @property
    def score(self) -> float:
        counted = self.killed + self.survived + len(self.unchecked)
        return 100.0 if counted == 0 else 100.0 * self.killed / counted


def load_equivalent(path: Path = EQUIVALENT_FILE) -> dict[str, str]:
    """Mutant name -> why no test can kill it."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    equivalent: dict[str, str] = data.get("equivalent", {})
    return equivalent


def score_module(module: str, outcomes: dict[str, str | None], equivalent: dict[str, str]) -> ModuleScore:
    """Tally one module from ``{mutant name: mutmut outcome}`` (``None``: never run)."""
    score = ModuleScore(module)
    for name, outcome in sorted(outcomes.items()):
        if outcome in DETECTED:
            score.killed += 1
            if name in equivalent:
                score.stale.append(name)
        elif name in equivalent:
            score.equivalent += 1
        elif outcome in {"survived", "no tests"}:
            score.survivors.append(name)
        else:  # not checked, interrupted, suspicious, skipped
            score.unchecked.append(name)
    return score


def outcomes_of(source: str) -> dict[str, str | None]:
    """mutmut's outcome for every mutant of one source file (read from ``mutants/``)."""
    data = SourceFileMutationData(path=source)
    data.load()
    return {
        name: None if code is None else status_by_exit_code[code]
        for name, code in data.exit_code_by_key.items()
    }


def render_table(scores: list[ModuleScore]) -> str:
    width = max(len(score.module) for score in scores)
    lines = [f"{'module':<{width}}  mutants  killed  survived  equivalent  score"]
    for s in scores:
        counts = f"{s.total:>7}  {s.killed:>6}  {s.survived:>8}  {s.equivalent:>10}"
        lines.append(f"{s.module:<{width}}  {counts}  {s.score:5.1f}%")
    return "\n".join(lines)


def render_details(scores: list[ModuleScore]) -> str:
    lines: list[str] = []
    for s in scores:
        lines += [f"survived (a test gap; `mutmut show {name}`): {s.module}" for name in s.survivors]
        lines += [f"not run ({name}): {s.module}" for name in s.unchecked]
        lines += [
            f"listed as equivalent but killed (drop it from equivalent.toml): {name}" for name in s.stale
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--min", type=float, default=90.0, help="lowest acceptable score per module (percent)"
    )
    args = parser.parse_args(argv)
    config = tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8"))
    sources: list[str] = config["tool"]["mutmut"]["only_mutate"]
    equivalent = load_equivalent()
    scores = [
        score_module(source.removeprefix("src/"), outcomes_of(source), equivalent) for source in sources
    ]
    print(render_table(scores))
    details = render_details(scores)
    if details:
        print(details)
    low = [s.module for s in scores if s.score < args.min]
    if low:
        print(f"under {args.min:g}%: {', '.join(low)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
