"""Tables as plain aligned text, for output that is not a terminal, drawn without rich.

A listing piped to ``grep``, ``awk`` or a file wants neither colours, a box nor the terminal's
width, and drawing it through rich imported rich's console (about a third of ``launchq runs
list``'s start) only to pad a few columns. On a terminal rich still draws (``cli/render.py``):
colours, the rule under the header, fitting the width.

The text is what rich's box-less table made of the same cells: every column as wide as its
widest cell, one space between columns (two in a ``... show`` view); only the spaces that
ended a line are gone, and a cell is never cut (rich shortened names past 200 columns).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass


def for_terminal() -> bool:
    """Whether output should be drawn for a terminal, as rich's ``Console.is_terminal`` decides
    it (rich is not imported to ask): ``TTY_COMPATIBLE=1``/``0`` says so, a non-empty
    ``FORCE_COLOR`` means yes, otherwise whether stdout is a terminal."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force_color = os.environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color != ""
    try:
        return sys.stdout.isatty()
    except ValueError:  # stdout already closed: nothing is a terminal any more
        return False


def cell_width(text: str) -> int:
    """How many terminal cells ``text`` takes: its length when it is ASCII (rich is not needed
    for that), else rich's count (wide East Asian characters take two, combining marks none)."""
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - cell_width(text))


def aligned(rows: Sequence[Sequence[str]], *, gap: int = 1) -> str:
    """``rows`` (a header is the first, if any) as lines of columns padded to their widest cell,
    ``gap`` spaces apart, each line ending in a newline. A cell of several lines takes as many,
    its neighbours' cells blank below their own, as rich draws it."""
    cells = [[cell.splitlines() or [""] for cell in row] for row in rows]
    if not cells:
        return ""
    widths = [max(cell_width(line) for row in cells for line in row[index]) for index in range(len(cells[0]))]
    spacer = " " * gap
    lines = []
    for row in cells:
        for depth in range(max(len(cell) for cell in row)):
            parts = [cell[depth] if depth < len(cell) else "" for cell in row]
            lines.append(spacer.join(_pad(part, width) for part, width in zip(parts, widths, strict=True)))
    return "".join(line.rstrip() + "\n" for line in lines)


@dataclass(frozen=True)
class Grid:
    """A table to print as aligned text (see ``aligned``), under its title if it has one: what
    ``show.details`` and ``show.events_table`` make when the output is not a terminal."""

    rows: list[list[str]]
    gap: int = 1
    title: str | None = None

    def __str__(self) -> str:
        text = aligned(self.rows, gap=self.gap)
        return (f"{self.title}\n{text}" if self.title else text).removesuffix("\n")


class PlainConsole:
    """What the ``... show`` commands ask of rich's ``Console``, for output that is not a
    terminal: ``print`` each object as text on a line of its own (``style`` is ignored)."""

    def print(self, *objects: object, style: str | None = None) -> None:
        """Write the objects, a space apart, then a newline (none given: a blank line)."""
        sys.stdout.write(" ".join(str(each) for each in objects) + "\n")
