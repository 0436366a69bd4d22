"""Progress on stderr for the CLI's long operations: a live display on a terminal, plain lines in a pipe.

stdout keeps only what scripts capture (a ``code://`` reference, a job's output), so every
progress report goes to stderr. On a terminal it is drawn by rich and redrawn in place; in a
pipe (a CI log, ``2>file``) redrawing would leave hundreds of lines, so there the upload
says one line when it is done and a status line is written only when its text changes.

rich is imported only when stderr is a terminal, so scripts and the CLI's other commands
never pay for it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID
    from rich.status import Status


def stderr_is_terminal() -> bool:
    """Whether a person is watching stderr: only then is anything redrawn in place."""
    return sys.stderr.isatty()


def _console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def human_bytes(size: float) -> str:
    """``2.3 MB``: decimal units, as rich's transfer columns show them."""
    from rich.filesize import decimal

    return decimal(int(size))


# -- a transfer with a known size --------------------------------------------------------------
class Progressed(Protocol):
    """Told how far a transfer has got: ``done`` of ``total`` bytes."""

    def __call__(self, done: int, total: int) -> None: ...


@dataclass
class Transfer:
    """What one transfer did, for the line that reports it."""

    total: int = 0
    done: int = 0
    started: float = 0.0
    ended: float = 0.0

    def summary(self, verb: str = "uploaded") -> str:
        """``uploaded 2.3 MB in 0.4 s (5.8 MB/s)``."""
        seconds = max(self.ended - self.started, 1e-6)
        return f"{verb} {human_bytes(self.done)} in {seconds:.1f} s ({human_bytes(self.done / seconds)}/s)"


class _Bar:
    """rich's bar with bytes, total and rate, cleared when the transfer ends (its summary stays)."""

    def __init__(self, label: str, total: int | None) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress: Progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=_console(),
            transient=True,
        )
        self._task: TaskID = self._progress.add_task(label, total=total)

    def __enter__(self) -> _Bar:
        self._progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._progress.stop()

    def update(self, done: int, total: int) -> None:
        self._progress.update(self._task, completed=done, total=total)


@contextmanager
def transfer_progress(label: str, total: int | None = None) -> Iterator[tuple[Progressed, Transfer]]:
    """A progress callback for one transfer and the record it fills.

    On a terminal the callback moves a bar (bytes, total, rate, time left); elsewhere it only
    records. The caller prints ``Transfer.summary()`` once it is done, on both.
    """
    record = Transfer(total=total or 0, started=time.monotonic())
    bar = _Bar(label, total) if stderr_is_terminal() else None

    def progressed(done: int, total: int) -> None:
        record.done, record.total = done, total
        if bar is not None:
            bar.update(done, total)

    try:
        if bar is None:
            yield progressed, record
        else:
            with bar:
                yield progressed, record
    finally:
        record.ended = time.monotonic()


@contextmanager
def working(text: str) -> Iterator[None]:
    """A spinner with ``text`` on a terminal while a step with no measurable size runs."""
    if not stderr_is_terminal():
        yield
        return
    with _console().status(text):
        yield


# -- a status that changes over time -----------------------------------------------------------
class StatusLine:
    """One line on stderr saying what a wait is waiting for, replaced as it changes.

    On a terminal it is a spinner line redrawn in place (``note`` prints above it); in a pipe
    each new text is its own line and an unchanged text is not repeated. ``close`` removes the
    live line before anything is written to stdout.
    """

    def __init__(self) -> None:
        self._live = stderr_is_terminal()
        self._status: Status | None = None
        self._console: Console | None = None
        self._text = ""

    def show(self, text: str) -> None:
        """Make ``text`` the status (no output when it is already the status)."""
        if text == self._text:
            return
        self._text = text
        if not self._live:
            typer.echo(text, err=True)
            return
        if self._status is None:
            self._console = _console()
            self._status = self._console.status(text)
            self._status.start()
        else:
            self._status.update(text)

    def note(self, line: str) -> None:
        """A line that stays (e.g. a build log line), written above the status."""
        if self._console is not None:
            self._console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            typer.echo(line, err=True)

    def close(self) -> None:
        """Remove the live line; the next ``show`` starts a new one."""
        if self._status is not None:
            self._status.stop()
        self._status = None
        self._console = None
        self._text = ""
