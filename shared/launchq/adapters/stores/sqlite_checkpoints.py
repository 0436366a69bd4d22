"""The SQLite store's WAL checkpoints, run by a thread of the store's own, off the writers' path.

By default SQLite checkpoints a WAL file from inside the commit that takes it past 1,000
pages: that one commit copies every page in the WAL back into the database file and fsyncs
both files, and in a run's life (four commits, about twelve pages) that is about 40% of
the writes' time, paid by whichever write happens to cross the line. Here each store's
connections leave that to a thread (one per store and process, ``Checkpointer``), which
runs ``PRAGMA wal_checkpoint(PASSIVE)`` on a connection of its own shortly after writes:
a passive checkpoint never waits for readers or writers and never makes them wait, and
while it copies pages the writers go on appending to the WAL. A writer starts the WAL
afresh once everything in it has been copied back, so the file does not grow.

- Event-driven: the thread sleeps on an event that each write sets; an idle store wakes
  nothing. Writes within ``BATCH_SECONDS`` of each other share one checkpoint; a WAL that a
  steady stream of writes keeps from ever being all copied is restarted (``RESTART_FRAMES``):
  under such a stream the WAL file stays within a few tens of MB (28 MB at ~3,500 lives/s).
- A backstop: the writers' own automatic checkpoint stays on at ``BACKSTOP_PAGES`` (40 MB
  of WAL), so a WAL never grows without bound, even where the thread is not running (it
  failed to open its connection, or the process was forked and has written nothing yet).
- Per process: a forked child starts its own thread at its first write (the parent's
  thread does not exist in the child).
- Durability is SQLite's WAL with ``synchronous = NORMAL`` either way (``sqlite_schema``):
  a commit is in the WAL before it returns, so it survives any process crash or kill; only a
  power loss (or kernel crash) can lose the commits made since the last checkpoint. That
  window is now about ``BATCH_SECONDS`` plus one checkpoint's time, at any write rate;
  SQLite's own checkpoint waits for 1,000 pages, which at a handful of runs a minute is
  hours of commits and at thousands of runs a second is ~25 ms.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

from launchq.adapters.stores.sqlite_schema import connect

log = logging.getLogger(__name__)

#: The writers' own automatic checkpoint, left on as a backstop (pages of 4 kB).
BACKSTOP_PAGES = 10_000
#: How long the thread waits after a write before it checkpoints: the writes of that time
#: share one checkpoint, so a page moved again and again is copied once (0.02 s gave a run's
#: life 0.31 of the bare loop, 0.1 s 0.37; 0.005 s 0.28, no better than SQLite's own).
BATCH_SECONDS = 0.1
#: A WAL this long (frames of 4 kB) after a passive checkpoint is restarted: under a steady
#: stream of writes a passive checkpoint never finds the WAL all copied (writers append
#: while it copies), so no writer would start it afresh and it would grow to the backstop.
#: ``RESTART`` waits (the busy timeout) for the writer in progress, copies the rest and
#: makes the next writer start the WAL from its beginning.
RESTART_FRAMES = 2_000


class Checkpointer:
    """Checkpoints ``path``'s WAL from a thread, soon after each write (``wrote``)."""

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.checkpoints = 0  # how many this process's thread has run (for tests and benchmarks)
        self.restarts = 0  # how many of them restarted the WAL
        self._wrote = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def wrote(self, pid: int) -> None:
        """A write was committed by process ``pid`` (the caller's, passed in: ``getpid`` is
        a system call): checkpoint soon. Starts this process's thread on its first write."""
        if self._pid != pid:
            self._start(pid)
        if not self._wrote.is_set():  # set already: the thread has not cleared it, so the
            self._wrote.set()  # checkpoint it clears it for comes after this write

    def _start(self, pid: int) -> None:
        with self._lock:
            if self._pid == pid:
                return
            self._wrote, self._stopping = threading.Event(), threading.Event()  # this thread's own
            self._thread = threading.Thread(
                target=self._run,
                args=(self._wrote, self._stopping),
                name="launchq-sqlite-checkpoints",
                daemon=True,
            )
            self._pid = pid
            self._thread.start()

    def _run(self, wrote: threading.Event, stopping: threading.Event) -> None:
        try:
            conn = connect(self.path, self.busy_timeout)
        except sqlite3.Error as exc:
            log.warning("SQLite checkpoints are left to the writers (%s): %s", self.path, exc)
            return
        try:
            while True:
                wrote.wait()
                time.sleep(BATCH_SECONDS)
                wrote.clear()
                if stopping.is_set():
                    return
                try:
                    _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if frames >= RESTART_FRAMES:
                        conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
                        self.restarts += 1
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # the backstop covers it; try again after the next write
                    log.debug("SQLite checkpoint of %s failed: %s", self.path, exc)
        finally:
            conn.close()

    def close(self) -> None:
        """Stop this process's thread (it finishes the checkpoint it is in)."""
        with self._lock:
            thread, self._thread, self._pid = self._thread, None, None
            self._stopping.set()
            self._wrote.set()
        if thread is not None and thread.is_alive():
            thread.join(timeout=10)
