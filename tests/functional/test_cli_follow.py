"""Long operations as a user sees them, against a real ``launchq serve`` with the real CLI process:
``runs logs -f`` on a run that waits in line (its status on stderr, its output on stdout, its
outcome as the exit status) and ``code push`` of a tree of ~20 MB (progress on stderr, the
reference alone on stdout)."""

from __future__ import annotations

import fcntl
import os
import pty
import queue
import random
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import httpx

from launchq.cli.follow import EXIT_STOPPED
from tests.functional.helpers import create_queue, enqueue, py, wait_state

CLI = [sys.executable, "-m", "launchq.cli.main"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _blocker(gate: Path) -> list[str]:
    """A job that runs until ``gate`` exists (at most 60 s): it holds its queue's only slot."""
    return py(
        "import os, time\n"
        "deadline = time.monotonic() + 60\n"
        f"while not os.path.exists({str(gate)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
    )


class Follow:
    """``launchq runs logs -f RUN`` as a child process whose stderr is read as it is written."""

    def __init__(self, server: str, run_id: str) -> None:
        env = {**os.environ, "LAUNCHQ_URL": server}
        self.proc = subprocess.Popen(
            [*CLI, "runs", "logs", "-f", run_id],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 30) -> str:
        """The first stderr line matching ``pattern``; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            self.stderr.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(
            f"no stderr line matched {pattern!r}; got {self.stderr}, exit {self.proc.poll()}"
        )

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        """Exit status, stdout and the whole of stderr."""
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()  # stderr is the reader thread's alone
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        while not self.lines.empty():
            self.stderr.append(self.lines.get())
        return self.proc.returncode, out, "".join(self.stderr)


def test_follow_a_queued_run_shows_its_place_and_what_holds_it_then_its_output(
    server: str, api: httpx.Client, tmp_path: Path
) -> None:
    # GIVEN a queue with one slot, taken by a long-running first run, and a second run behind it
    gate = tmp_path / "gate"
    create_queue(api, "gpu", max_jobs=1)
    first = enqueue(api, "gpu", entry_point=_blocker(gate), name="busy")
    wait_state(api, first["id"], {"running"})
    second = enqueue(api, "gpu", entry_point=py("print('second says hello')"), name="waiting")

    # WHEN its output is followed
    follow = Follow(server, second["id"])

    # THEN stderr says where it stands and why: first in line, the queue at its max_jobs
    line = follow.wait_for(r"^queued:")
    assert line.strip() == "queued: position 1 in queue gpu (next in line), queue at max_jobs 1/1"
    gate.touch()  # the first run ends, the slot frees
    status, out, err = follow.finish()
    # AND once it runs, the job's output is on stdout alone, and the exit status says it finished
    assert status == 0, err
    assert out == "second says hello\n"
    assert err.endswith(f"run {second['id']} finished\n"), err


def test_follow_exits_with_the_jobs_own_exit_code_when_it_fails(server: str, api: httpx.Client) -> None:
    run = enqueue(api, "default", entry_point=py("print('about to fail'); raise SystemExit(3)"))

    status, out, err = Follow(server, run["id"]).finish()

    assert status == 3, err
    assert out == "about to fail\n"
    assert f"run {run['id']} failed (exit code 3)" in err


def test_follow_a_run_stopped_while_queued_exits_with_the_stopped_status(
    server: str, api: httpx.Client, tmp_path: Path
) -> None:
    # GIVEN a run waiting behind a busy one-slot queue, followed
    gate = tmp_path / "gate"
    create_queue(api, "one", max_jobs=1)
    first = enqueue(api, "one", entry_point=_blocker(gate))
    wait_state(api, first["id"], {"running"})
    second = enqueue(api, "one", entry_point=py("print('never')"))
    follow = Follow(server, second["id"])
    follow.wait_for(r"^queued: position 1 in queue one")

    # WHEN it is stopped before it ever started
    assert api.post(f"/runs/{second['id']}/stop").status_code in (200, 202)
    status, out, err = follow.finish()
    gate.touch()

    # THEN the follow ends with the stopped status, nothing on stdout, and says why
    assert status == EXIT_STOPPED, err
    assert out == ""
    assert f"run {second['id']} cancelled" in err


def _tree(root: Path, megabytes: int) -> int:
    """Text files of words from a small vocabulary: ``megabytes`` MB that gzip to a few MB
    (under the API's upload limit), unlike random bytes."""
    words = [
        f"{word} "
        for word in ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
    ]
    rng = random.Random(12)
    written = 0
    for index in range(megabytes):
        text = "".join(rng.choices(words, k=200_000))[: 1024 * 1024]
        (root / f"part-{index:02}.txt").write_text(text)
        written += len(text)
    return written


def test_code_push_of_a_large_tree_in_a_pipe_says_one_line_and_prints_only_the_reference(
    server: str, api: httpx.Client, tmp_path: Path
) -> None:
    # GIVEN a source tree of about 20 MB
    tree = tmp_path / "tree"
    tree.mkdir()
    size = _tree(tree, 20)
    assert size >= 20 * 1024 * 1024

    # WHEN it is pushed with stdout and stderr both piped
    done = subprocess.run(
        [*CLI, "code", "push", str(tree)],
        capture_output=True, text=True, env={**os.environ, "LAUNCHQ_URL": server}, timeout=120,
    )  # fmt: skip

    # THEN stdout is the reference alone, stderr one line with what was sent and how fast
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"code://[0-9a-f]{64}\n", done.stdout), done.stdout
    assert done.stderr.count("\n") == 1, done.stderr
    assert re.match(
        r"packed in [\d.]+ s, uploaded [\d.]+ MB in [\d.]+ s \([\d.]+ [kMG]?B/s\); run it with: ", done.stderr
    ), done.stderr
    # AND the upload is whole: a run from it counts the bytes of its files
    count = "import os; print(sum(os.path.getsize(n) for n in os.listdir('.') if n.startswith('part-')))"
    run = enqueue(api, "default", uri=done.stdout.strip(), entry_point=py(count))
    ended = wait_state(api, run["id"], {"finished", "failed", "dead_letter"}, timeout=60)
    assert ended["state"] == "finished", ended
    assert api.get(f"/runs/{run['id']}/logs").json()["text"].strip() == str(size)


def _drain(fd: int, into: list[bytes]) -> None:
    """Read a pseudo-terminal until the child has closed it (EIO) or it ends."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        into.append(chunk)


def _stderr_in_terminal(server: str, *args: str, timeout: float = 120) -> tuple[int, str, str]:
    """``launchq ARGS`` with stderr on a pseudo-terminal of 80 columns and stdout piped: exit
    status, stdout, and everything drawn on the terminal (ANSI codes included)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "NO_COLOR"}}
    proc = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=follower, text=True,
        env={**env, "LAUNCHQ_URL": server, "TERM": "xterm-256color"},
    )  # fmt: skip
    os.close(follower)
    drawn: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(leader, drawn), daemon=True)
    reader.start()
    try:
        out, _ = proc.communicate(timeout=timeout)
        reader.join(timeout=10)
        return proc.returncode, out, b"".join(drawn).decode()
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()


def test_code_push_on_a_terminal_draws_its_progress_there_and_keeps_stdout_for_the_reference(
    server: str, tmp_path: Path
) -> None:
    # GIVEN a tree of a few MB
    tree = tmp_path / "tree"
    tree.mkdir()
    _tree(tree, 4)

    # WHEN it is pushed by a person at a terminal, stdout captured by a script
    status, out, drawn = _stderr_in_terminal(server, "code", "push", str(tree))

    # THEN the terminal showed the packing and the upload live, then the one summary line
    assert status == 0, drawn
    assert re.fullmatch(r"code://[0-9a-f]{64}\n", out), out
    visible = ANSI.sub("", drawn)
    assert "packing " in visible, drawn
    assert re.search(r"uploading tree .*/[\d.]+ kB", visible), visible  # the bar: bytes of the total
    assert "\x1b[" in drawn  # redrawn in place: cursor and erase sequences
    assert re.search(r"packed in [\d.]+ s, uploaded [\d.]+ [kM]B in [\d.]+ s .*; run it with: ", visible), (
        visible
    )
