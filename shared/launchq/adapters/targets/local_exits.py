"""Telling the local-process target that a supervisor it started has exited, as it happens.

Why one thread over pidfds rather than a thread per job (the first design): starting a
thread per job cost the dispatcher a thread creation and a hand-over of the GIL on every
launch (about a tenth of the server's time per run in a burst), and a burst kept dozens of
threads alive. A pidfd (``pidfd_open``, Linux 5.3+) becomes readable when its process
exits, without reaping it, so one ``epoll`` thread can wait on every running supervisor and
``Popen.poll`` stays the one place that collects exit statuses. Why not a SIGCHLD reaper:
``waitpid(-1)`` would steal the status of every other child of the server (builders, git
clones) from their ``Popen``.

Where pidfds are missing (macOS, an old kernel, a sandbox that forbids the call) each job
gets a waiter thread blocked in ``waitid(WNOWAIT)`` instead; both paths notify alike. The
epoll thread lives while a supervisor runs, and for ``LINGER_SECONDS`` after the last one
exited while someone listens (``keep_warm``), so a stream of short jobs does not pay a
thread start each; an idle server, or one whose loops stopped, keeps no thread for this.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import subprocess
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

THREAD_NAME = "launchq-exits-epoll"
LINGER_SECONDS = 1.0
"""How long the epoll thread waits for the next job after the last one exited."""


class ExitWatcher:
    """Calls ``on_exit(key)`` once the process of ``watch(key, proc)`` has exited.

    The process is not reaped here: ``on_exit`` does that (``Popen.poll``), so statuses are
    collected in one place whichever path saw the exit first.
    """

    def __init__(self, on_exit: Callable[[str], None], *, pidfd: bool = True) -> None:
        """``pidfd=False``: a waiter thread per process, as where pidfds are missing."""
        self._on_exit = on_exit
        self._lock = threading.Lock()
        self._pidfds: dict[int, str] = {}  # pidfd -> key
        self._epoll: select.epoll | None = None
        self._thread: threading.Thread | None = None
        self._pidfd_works = pidfd and hasattr(os, "pidfd_open") and hasattr(select, "epoll")
        self._linger = 0.0
        self._wake: tuple[int, int] | None = None  # a pipe that cuts the linger short

    def keep_warm(self, warm: bool) -> None:
        """Linger after the last exit (someone listens) or end as soon as none is left;
        when none is left now, the thread has ended by the time this returns."""
        with self._lock:
            self._linger = LINGER_SECONDS if warm else 0.0
            thread = self._thread
            if warm or thread is None or self._wake is None:
                return
            os.write(self._wake[1], b"\0")
            idle = not self._pidfds
        if idle and thread is not threading.current_thread():
            thread.join(timeout=5)

    def watch(self, key: str, proc: subprocess.Popen[bytes]) -> None:
        """Start watching ``proc``, a child of this process (reaped or not: one that is
        already gone is reported at once)."""
        pidfd = self._open_pidfd(proc)
        if pidfd is None:
            threading.Thread(
                target=self._wait_for, args=(key, proc), name=f"launchq-exit-{key}", daemon=True
            ).start()
            return
        if pidfd < 0:
            self._exited(key)
            return
        with self._lock:
            if self._epoll is None:
                self._epoll = select.epoll()
                self._wake = os.pipe()
                os.set_blocking(self._wake[0], False)
                self._epoll.register(self._wake[0], select.EPOLLIN)
            self._pidfds[pidfd] = key
            self._epoll.register(pidfd, select.EPOLLIN)  # seen at once by a running epoll.poll
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, args=(self._epoll,), name=THREAD_NAME, daemon=True
                )
                self._thread.start()

    def _open_pidfd(self, proc: subprocess.Popen[bytes]) -> int | None:
        """A pidfd for ``proc``; -1 when it has already been reaped; None to fall back to a
        waiter thread.

        Once reaped, its pid may belong to another process, so the pidfd is only trusted
        when ``proc`` was still unreaped after it was opened (an exited, unreaped child
        stays a zombie, whose pidfd is readable at once)."""
        if not self._pidfd_works:
            return None
        try:
            pidfd = os.pidfd_open(proc.pid)
        except ProcessLookupError:
            return -1  # reaped (``Popen.poll`` elsewhere) and its pid not reused yet
        except OSError as exc:  # ENOSYS (kernel < 5.3), EPERM (a sandbox): no pidfds here
            log.info("pidfd_open unavailable (%s); one waiter thread per local job instead", exc)
            self._pidfd_works = False
            return None
        if proc.returncode is not None:
            os.close(pidfd)
            return -1
        return pidfd

    def _run(self, epoll: select.epoll) -> None:
        """Wait for exits until none is left and the linger passed; then end (``watch``
        starts a new thread)."""
        while True:
            with self._lock:
                timeout = -1.0 if self._pidfds else self._linger
            events = epoll.poll(timeout)
            for fd, _ in events:
                if self._wake is not None and fd == self._wake[0]:
                    os.read(fd, 64)
                    continue
                with self._lock:
                    epoll.unregister(fd)
                    key = self._pidfds.pop(fd)
                os.close(fd)
                self._exited(key)
            with self._lock:
                if not self._pidfds and (not events or self._linger == 0):
                    self._thread = None
                    return

    def _wait_for(self, key: str, proc: subprocess.Popen[bytes]) -> None:
        """The fallback: one thread blocked until ``proc`` exits.

        ``waitid(WNOWAIT)`` waits without reaping, so ``Popen.poll`` stays truthful in every
        thread (a ``Popen.wait`` here would hold its lock, and ``poll`` elsewhere would answer
        None for a job already gone)."""
        if hasattr(os, "waitid"):
            with contextlib.suppress(ChildProcessError):  # already reaped elsewhere: it ended
                os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        else:  # macOS has no os.waitid
            proc.wait()
        self._exited(key)

    def _exited(self, key: str) -> None:
        try:
            self._on_exit(key)
        except Exception:  # the watcher must outlive one failed notice; the reconciler retries
            log.exception("exit notice for %s failed", key)
