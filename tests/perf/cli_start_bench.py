"""How long the ``launchq`` command takes to start: ``launchq --help``, ``launchq runs list`` and
``launchq launch --help``.

``python -m tests.perf.cli_start_bench [N] [--no-bytecode] [--importtime]`` prints the min and
median wall and CPU time of N (10) fresh processes of each (``--importtime``: and the sum of
their modules' own import times, from a run of each under ``PYTHONPROFILEIMPORTTIME``);
``make bench`` reports the same figures as the group "cli_start".
``python -m tests.perf.cli_start_bench N OTHER/shared`` times this checkout's package and
another's (e.g. ``git archive HEAD shared | tar -x -C /tmp/before``) in turns, both as
``python -m launchq.cli.main`` with ``PYTHONPATH`` set, so a busy machine weighs on both.
``runs list`` is timed twice: against a real ``launchq serve --no-dispatch`` on a temporary data
directory holding a few queued runs (what a user waits for: the request and the table drawn;
``runs show`` of one of them too),
and against a port where nothing listens (the start and the error path only: import, parse,
one refused connection, the one-line error). The server is this checkout's, started once.

Each sample is a whole process, as a user types it: the interpreter's own start, the
imports of the command's modules and the command itself. Its wall time is what a user
waits; its CPU time (user + system, from the kernel's accounting of the reaped child) is
reported beside it because on a shared, busy machine the wall time mostly measures the
other tenants, while the CPU a start costs hardly moves. ``python -X importtime -m
launchq.cli.main --help`` shows where the import time goes. Nothing here asserts a speed.

Every process reads its bytecode from a cache of its own (``PYTHONPYCACHEPREFIX``, a temporary
directory filled by a warm-up run of each command), as an installed launchq's does, even where
``PYTHONDONTWRITEBYTECODE`` is set: without it each start would compile launchq's modules from
source, about 100 ms that no user's start pays. ``--no-bytecode`` measures that way instead.
"""

from __future__ import annotations

import atexit
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.perf.figures import Figure, Scale, summarise

GROUP = "cli_start"  # the harness names a group after its module: --only cli_start
DEFAULT_SAMPLES = 10


def launchq_command() -> list[str]:
    """The console script beside this interpreter (what ``pip install`` made), else ``-m``."""
    script = Path(sys.executable).with_name("launchq")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "launchq.cli.main"]


def closed_port_url() -> str:
    """An http URL on this machine where nothing listens (the port was just freed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


SERVED = "launchq runs list (serve --no-dispatch, 3 runs)"
SHOWN = "launchq runs show RUN (serve --no-dispatch)"
QUEUED_RUNS = 3


def cases(run_id: str = "0") -> dict[str, list[str]]:
    """What is timed: a label and the command line after ``launchq`` (``SERVED`` and ``SHOWN``
    are sent to a real server, ``run_id`` one of its runs; the others to a port where nothing
    listens)."""
    return {
        "launchq --help": ["--help"],
        SERVED: ["runs", "list"],
        SHOWN: ["runs", "show", run_id],
        "launchq runs list (nothing listening)": ["runs", "list"],
        "launchq launch --help": ["launch", "--help"],
    }


@contextmanager
def served_api() -> Iterator[tuple[str, str]]:
    """A ``launchq serve --no-dispatch`` on a temporary data directory, holding ``QUEUED_RUNS``
    queued runs of ``examples/``; yields its URL and the last run's id."""
    import httpx

    from tests.servers import launchq_serve

    examples = Path(__file__).resolve().parents[2] / "examples"
    with (
        tempfile.TemporaryDirectory(prefix="launchq-bench-serve-") as data,
        launchq_serve(Path(data) / "data", "--no-dispatch") as url,
    ):
        run_id = ""
        for index in range(QUEUED_RUNS):
            body = {"uri": str(examples), "entry_point": ["python", "train.py"], "name": f"bench-{index}"}
            answer = httpx.post(f"{url}/queues/default/runs", json=body, timeout=30)
            run_id = answer.raise_for_status().json()["id"]
        yield url, run_id


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one process running ``argv`` to its end (output discarded)."""
    cpu, began = _children_cpu(), time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - began, _children_cpu() - cpu


Variant = tuple[list[str], dict[str, str]]
"""How to start one launchq: the command line before the arguments, and the environment."""


def base_env(bytecode: bool = True) -> dict[str, str]:
    """The environment of every sample: nothing listening at LAUNCHQ_URL, no colours, and
    (``bytecode``) a bytecode cache of the bench's own."""
    env = {**os.environ, "LAUNCHQ_URL": closed_port_url(), "NO_COLOR": "1"}
    env.pop("LAUNCHQ_DEBUG", None)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        cache = tempfile.mkdtemp(prefix="launchq-bench-pyc-")
        atexit.register(shutil.rmtree, cache, ignore_errors=True)
        env["PYTHONPYCACHEPREFIX"] = cache
    return env


def package_variant(shared: Path, env: dict[str, str]) -> Variant:
    """``python -m launchq.cli.main`` importing launchq from the ``shared`` directory given."""
    return [sys.executable, "-m", "launchq.cli.main"], {**env, "PYTHONPATH": str(shared.resolve())}


def samples(
    samples_per_case: int, variants: dict[str, Variant] | None = None, *, importtime: bool = False
) -> dict[str, list[float]]:
    """Milliseconds per (variant,) case and clock (``wall``, ``cpu``; with ``importtime`` also
    ``imports``, see ``import_ms``), ``samples_per_case`` fresh processes each, taken in turns
    so that a busy moment of the machine does not land on one of them only."""
    if variants is None:
        variants = {"": (launchq_command(), base_env())}
    timings: dict[str, list[float]] = {}
    with served_api() as (url, run_id):

        def env_of(label: str, env: dict[str, str]) -> dict[str, str]:
            return {**env, "LAUNCHQ_URL": url} if label in (SERVED, SHOWN) else env

        for base, env in variants.values():  # a warm-up each: fills the page and bytecode caches
            for label, argv in cases(run_id).items():
                time_once([*base, *argv], env_of(label, env))
        for _ in range(samples_per_case):
            for name, (base, env) in variants.items():
                for label, argv in cases(run_id).items():
                    key = f"{name}: {label}" if name else label
                    wall, cpu = time_once([*base, *argv], env_of(label, env))
                    timings.setdefault(f"{key}, wall", []).append(wall * 1000)
                    timings.setdefault(f"{key}, cpu", []).append(cpu * 1000)
                    if importtime:
                        imports = import_ms([*base, *argv], env_of(label, env))
                        timings.setdefault(f"{key}, imports", []).append(imports)
    return timings


def import_ms(argv: list[str], env: dict[str, str]) -> float:
    """The sum of every module's own import time (``python -X importtime``), in ms: the part of
    a start spent importing, steadier than the wall time on a busy machine (it leaves out the
    interpreter's start and the command's own work)."""
    done = subprocess.run(
        argv,
        env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    return sum(int(line.split("|")[0].removeprefix("import time:")) for line in lines[1:]) / 1000


def run(scale: Scale) -> list[Figure]:
    """The harness's entry: one figure per case (median, min, max over the samples)."""
    count = scale.pick(DEFAULT_SAMPLES, 2)
    return [
        summarise(GROUP, f"start: {label}", "ms", values, note="one process per sample")
        for label, values in samples(count).items()
    ]


def main(argv: list[str]) -> int:
    bytecode = "--no-bytecode" not in argv
    importtime = "--importtime" in argv
    argv = [arg for arg in argv if arg not in ("--no-bytecode", "--importtime")]
    count = int(argv[0]) if argv else DEFAULT_SAMPLES
    variants = None if bytecode else {"": (launchq_command(), base_env(bytecode))}
    if len(argv) > 1:
        env = base_env(bytecode)
        here = Path(__file__).resolve().parents[2] / "shared"
        variants = {"this": package_variant(here, env), "other": package_variant(Path(argv[1]), env)}
        print(f"this = {here}, other = {Path(argv[1]).resolve()}")
    print(f"{count} processes per command, load average {os.getloadavg()[0]:.2f} at start")
    for label, values in samples(count, variants, importtime=importtime).items():
        print(f"{label:<62} min {min(values):7.1f} ms   median {statistics.median(values):7.1f} ms")
    print(f"load average {os.getloadavg()[0]:.2f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
