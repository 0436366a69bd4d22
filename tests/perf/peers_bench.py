"""``make bench`` group "peers": the same workload on procrastinate (PostgreSQL) and RQ (Redis).

The workload is N no-op jobs spread over four priorities, run by K workers. What each
system calls a job differs and is stated in results.md: for the peers a Python function
that records its id, for launchq (group "http") a run of ``true`` as its own process.
Each peer's workers are started and registered before the clock starts; the clock runs
from the first enqueue until the last job has recorded itself, as launchq's does from the
first enqueue until the last run ended. Every repetition checks that each job ran exactly
once (its id recorded once, none missing), and again after the workers have stopped.
The harness (``bench.py``) adds the launchq / peer ratios once both groups have run.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from tests.perf.figures import Figure, Scale, summarise
from tests.perf.peer_servers import check_alive, postgres_cluster, redis_server, worker_processes
from tests.perf.peers_procrastinate import ProcrastinatePeer
from tests.perf.peers_rq import RqPeer

GROUP = "peers"
WORKERS = (1, 4, 8)
POLL_SECONDS = 0.005


class Peer(Protocol):
    """A peer queue system, as ``peers_rq`` and ``peers_procrastinate`` present it."""

    name: str
    env: dict[str, str]

    def worker_argv(self) -> list[str]: ...
    def workers_ready(self) -> int: ...
    def reset(self) -> None: ...
    def enqueue(self, count: int) -> None: ...
    def done_count(self) -> int: ...
    def done_ids(self) -> list[int]: ...
    def close(self) -> None: ...


def jobs_for(scale: Scale) -> int:
    """N, the same for launchq's throughput runs (``http_bench``) and the peers."""
    return scale.pick(300, 20)


def check_exactly_once(peer: Peer, count: int) -> None:
    """Every job 0..count-1 ran, and none ran twice."""
    ids = peer.done_ids()
    repeated = len(ids) - len(set(ids))
    missing = set(range(count)) - set(ids)
    if repeated or missing or len(ids) != count:
        raise RuntimeError(
            f"{peer.name}: {len(ids)} executions for {count} jobs "
            f"({repeated} repeated, {len(missing)} missing, e.g. {sorted(missing)[:5]})"
        )


def _wait(condition: Callable[[], bool], what: str, timeout: float, alive: Callable[[], None]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL_SECONDS)


def measure(peer: Peer, count: int, workers: int, repetitions: int, log: Path) -> list[float]:
    """Jobs/s of ``repetitions`` rounds of ``count`` jobs with ``workers`` workers, each checked."""
    samples: list[float] = []
    # the previous round's workers must have signed off, or "ready" below would count them
    _wait(lambda: peer.workers_ready() == 0, f"earlier {peer.name} workers to sign off", 30, lambda: None)
    with worker_processes([peer.worker_argv()] * workers, log, peer.env) as procs:

        def alive() -> None:
            check_alive(procs, log)

        _wait(lambda: peer.workers_ready() >= workers, f"{workers} {peer.name} workers", 120, alive)
        for _ in range(repetitions):
            peer.reset()
            started = time.monotonic()
            peer.enqueue(count)
            _wait(lambda: peer.done_count() >= count, f"{count} {peer.name} jobs", 60 + count, alive)
            samples.append(count / (time.monotonic() - started))
            check_exactly_once(peer, count)
    check_exactly_once(peer, count)  # nothing ran again late, up to the workers' shutdown
    return samples


@contextmanager
def _rq(workdir: Path) -> Iterator[Peer]:
    with redis_server(workdir) as url:
        peer = RqPeer(url)
        try:
            yield peer
        finally:
            peer.close()


@contextmanager
def _procrastinate(_workdir: Path) -> Iterator[Peer]:
    with postgres_cluster() as conninfo:
        peer = ProcrastinatePeer(conninfo)
        try:
            yield peer
        finally:
            peer.close()


PEERS: dict[str, Callable[[Path], AbstractContextManager[Peer]]] = {
    "procrastinate": _procrastinate,
    "rq": _rq,
}


def run_peer(name: str, count: int, workers: tuple[int, ...], repetitions: int) -> list[Figure]:
    """One peer's throughput figures, one per worker count (series ``<peer> throughput``)."""
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="launchq-bench-peers-") as tmp, PEERS[name](Path(tmp)) as peer:
        for k in workers:
            samples = measure(peer, count, k, repetitions, Path(tmp) / f"{name}-workers.log")
            figures.append(
                summarise(
                    GROUP,
                    f"{name} throughput, {k} worker{'s' if k != 1 else ''}",
                    "jobs/s",
                    samples,
                    series=f"{name} throughput",
                    x=k,
                    note=f"{count} no-op jobs, 4 priorities; each ran exactly once",
                )
            )
    return figures


def run(scale: Scale) -> list[Figure]:
    count = jobs_for(scale)
    figures: list[Figure] = []
    for name in PEERS:
        figures += run_peer(name, count, WORKERS, scale.repetitions)
    return figures
