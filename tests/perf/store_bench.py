"""``make bench`` group "store": the SQLite store alone, against a bare SQLite loop.

Figures (each the median of ``scale.repetitions`` samples, with min and max):

- "bare SQLite claim+finish loop": the reference. A raw ``sqlite3`` loop on the store's
  own connection settings (``sqlite_schema.connect``: WAL, ``synchronous = NORMAL``): insert
  a row, claim the head with ``UPDATE ... WHERE id = (SELECT ... ORDER BY priority, seq
  LIMIT 1) RETURNING id``, finish it; each statement its own transaction. It checkpoints
  the way SQLite does by default, inside the commit that takes the WAL past 1,000 pages;
  the store checkpoints from a thread of its own (``sqlite_checkpoints``). So that the
  ratio's gain from that can be told apart, "bare loop, checkpoints in a thread" runs the
  same loop with the store's ``Checkpointer`` too, and "full life / bare loop with
  checkpoints in a thread" is the ratio against it.
- "claim, submit, end / bare claim+finish, queued beforehand": the ratio as issue 9 states
  it (a life is three transactions, claim, submit and end, against a bare claim+finish
  loop): the store claims, submits and ends runs it enqueued before the timing starts, the
  bare loop claims and finishes rows it inserted so, in turns with the loops above.
- "full life in process, 1 dispatcher": what the bare loop does, through the store: a run's
  life as the issue counts it and as a no-op local run lives it (enqueue, claim, submit,
  end): add_run, claim, claimed->starting with what the dispatcher writes at submit (the
  handle, the resolved arguments, the start time, the lease cleared), starting->finished
  with the exit code (the exit watcher settles a job that ended before anyone saw it
  running), each with its event; and "full life / bare loop", the two paired repetition by
  repetition. "... with a running move" adds starting->running, as a job the reconciler
  saw running has.
  The two loops alternate in chunks of 250 runs, so a change of load on the machine
  (others' tests) weighs on both alike.
- "full life, K dispatchers" (K = 1, 2, 4): N runs enqueued beforehand; K processes
  (multiprocessing 'spawn', one file) claim and move them to finished. Each repetition
  checks that every run finished exactly once, by one process, with its five events.
- "claim latency" at 10^3 .. 10^6 queued runs (a plot): one claim's time, the claimed run
  stopped and a new one enqueued (untimed) so the depth stays put. The queue is filled by a
  bulk load of the rows and events ``add_run`` writes, in one transaction (``bulk_enqueue``).

``python -m tests.perf.store_bench [--quick]`` prints one line per figure. Nothing here
asserts a speed.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.adapters.stores.sqlite_checkpoints import BACKSTOP_PAGES, Checkpointer
from launchq.adapters.stores.sqlite_rows import INSERT_COLUMNS, insert_values
from launchq.adapters.stores.sqlite_schema import connect
from launchq.domain.models import Queue, Run, RunSpec, RunUpdate
from launchq.domain.priority import Priority
from launchq.domain.states import RunState
from launchq.service.runs import new_run_id
from tests.perf.figures import Figure, Scale, summarise

GROUP = "store"
QUEUE = "bench"
MAX_JOBS = 8  # above every K here: claims take the bounded-queue path without ever waiting for a slot
DISPATCHERS = (1, 2, 4)
LIFE = ("queued", "claimed", "starting", "finished")
T0 = datetime(2030, 1, 1, tzinfo=UTC)
LEASE = T0 + timedelta(minutes=5)


def sizes(scale: Scale) -> tuple[int, tuple[int, ...]]:
    """Runs per throughput sample, and the queue depths of the latency series."""
    depths = (10**3, 10**4) if scale.quick else (10**3, 10**4, 10**5, 10**6)
    return scale.pick(1_000, 100), depths


# -- the reference and the store, in process ----------------------------------------------
CHUNK = 250  # the two loops alternate in chunks, so a load change on the machine hits both alike


def bare_database(path: Path) -> sqlite3.Connection:
    conn = connect(path, 30.0)
    conn.execute(
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT NOT NULL,"
        " priority INTEGER NOT NULL, seq INTEGER NOT NULL)"
    )
    conn.execute("CREATE INDEX jobs_line ON jobs (state, priority, seq)")
    return conn


#: The bare loop's statements: insert a queued row, claim the head of the line, finish it.
BARE_INSERT = "INSERT INTO jobs (state, priority, seq) VALUES ('queued', ?, ?)"
BARE_CLAIM = (
    "UPDATE jobs SET state = 'claimed' WHERE id = (SELECT id FROM jobs WHERE state = 'queued'"
    " ORDER BY priority, seq LIMIT 1) RETURNING id"
)
BARE_FINISH = "UPDATE jobs SET state = 'finished' WHERE id = ? AND state = 'claimed'"


def bare_chunk(
    conn: sqlite3.Connection, first: int, count: int, checkpoints: Checkpointer | None = None
) -> float:
    """Seconds for ``count`` turns of the raw loop: insert, claim the head, finish it (each
    write told to ``checkpoints``, as the store tells its own, when there is one)."""
    pid = os.getpid()
    started = time.perf_counter()
    for seq in range(first, first + count):
        conn.execute(BARE_INSERT, (seq % 4, seq))
        (job,) = conn.execute(BARE_CLAIM).fetchall()[0]
        conn.execute(BARE_FINISH, (job,))
        if checkpoints is not None:
            checkpoints.wrote(pid)
    return time.perf_counter() - started


def bare_claims_chunk(conn: sqlite3.Connection, first: int, count: int) -> float:
    """Seconds for ``count`` turns of the raw loop without its insert: claim the head, finish
    it, of rows inserted beforehand (in one untimed transaction)."""
    conn.execute("BEGIN")
    conn.executemany(BARE_INSERT, [(seq % 4, seq) for seq in range(first, first + count)])
    conn.execute("COMMIT")
    started = time.perf_counter()
    for _ in range(count):
        (job,) = conn.execute(BARE_CLAIM).fetchall()[0]
        conn.execute(BARE_FINISH, (job,))
    return time.perf_counter() - started


def new_run(index: int) -> Run:
    """A run as the service enqueues it (its id the service's kind: 16 random hex digits)."""
    priority = Priority(index % 4)
    return Run(
        id=new_run_id(),
        queue=QUEUE,
        entity="bench",
        spec=RunSpec(entry_point=["true"], priority=priority),
        priority=priority,
        created_at=T0,
        updated_at=T0,
    )


def open_store(path: Path) -> SqliteRunStore:
    store = SqliteRunStore(path)
    store.create_queue(Queue(name=QUEUE, resource="local-process", max_jobs=MAX_JOBS, created_at=T0))
    return store


def live(store: SqliteRunStore, run: Run, running: bool = False) -> None:
    """A claimed run's remaining life, as the local dispatcher and its exit watcher move it
    (``running``: with the move a job seen running gets)."""
    submitted = RunUpdate(handle={"pid": "1"}, resolved=run.resolved, started_at=T0, clear_lease=True)
    store.transition(run.id, RunState.CLAIMED, RunState.STARTING, "submitted to local-process", T0, submitted)
    if running:
        store.transition(run.id, RunState.STARTING, RunState.RUNNING, "job is running", T0)
    ended = RunUpdate(exit_code=0, finished_at=T0)
    source = RunState.RUNNING if running else RunState.STARTING
    store.transition(run.id, source, RunState.FINISHED, "exit 0", T0, ended)


def life_chunk(store: SqliteRunStore, runs: list[Run], running: bool = False) -> float:
    """Seconds for the full lives of ``runs``, enqueue included."""
    started = time.perf_counter()
    for run in runs:
        store.add_run(run)
        claimed = store.claim(QUEUE, T0, LEASE)
        assert claimed is not None
        live(store, claimed, running)
    return time.perf_counter() - started


def claims_chunk(store: SqliteRunStore, runs: list[Run]) -> float:
    """Seconds for the lives of ``runs`` without their enqueue (claim, submit, end), the runs
    enqueued beforehand (untimed): a life as issue 9 counts it."""
    for run in runs:
        store.add_run(run)
    started = time.perf_counter()
    for _ in runs:
        claimed = store.claim(QUEUE, T0, LEASE)
        assert claimed is not None
        live(store, claimed)
    return time.perf_counter() - started


#: What ``in_process`` times, each ``count`` runs, in chunks taken in turns.
LOOPS = ("bare", "life", "running", "bare threaded", "bare claims", "claims")


def in_process(tmp: Path, count: int) -> dict[str, float]:
    """Runs/s of each of ``LOOPS``: the bare loop, the store's full life, the life with a
    running move, the bare loop with checkpoints in a thread, the bare loop's claim and
    finish of rows inserted beforehand, and the store's claim, submit and end of runs
    enqueued beforehand; ``count`` of each, interleaved."""
    conn, store = bare_database(tmp / "bare.db"), open_store(tmp / "life.db")
    longer, claiming = open_store(tmp / "running.db"), open_store(tmp / "claims.db")
    threaded, claims = bare_database(tmp / "bare-threaded.db"), bare_database(tmp / "bare-claims.db")
    threaded.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
    checkpoints = Checkpointer(tmp / "bare-threaded.db", 30.0)
    runs, more, queued = ([new_run(index) for index in range(count)] for _ in range(3))
    seconds = dict.fromkeys(LOOPS, 0.0)
    for first in range(0, count, CHUNK):
        size, part = min(CHUNK, count - first), slice(first, first + CHUNK)
        seconds["bare"] += bare_chunk(conn, first, size)
        seconds["life"] += life_chunk(store, runs[part])
        seconds["running"] += life_chunk(longer, more[part], running=True)
        seconds["bare threaded"] += bare_chunk(threaded, first, size, checkpoints)
        seconds["bare claims"] += bare_claims_chunk(claims, first, size)
        seconds["claims"] += claims_chunk(claiming, queued[part])
    checkpoints.close()
    for opened in (conn, threaded, claims, store, longer, claiming):
        opened.close()
    return {name: count / spent for name, spent in seconds.items()}


# -- the store, K processes ----------------------------------------------------------------
def bulk_enqueue(path: Path, count: int) -> None:
    """``count`` more queued runs in one transaction: the rows and events ``add_run`` writes.

    A bulk load, on the bench's own file (nobody else has it open): the triggers and the
    runs' indexes are dropped for the fill and made again after it (an index built once,
    sorted, instead of grown row by row); each row's history holds its "enqueued" event,
    as ``insert_values`` writes it. Run ids are a hex counter (16 digits, as the service's)
    so the id index is appended to, not split at random. The claim's plan does not depend on
    them (it finds the head through runs_in_line and the run by its id)."""
    templates = [new_run(priority) for priority in range(4)]
    values = [(run.id, insert_values(run, run.model_dump_json())) for run in templates]
    columns = INSERT_COLUMNS.count(",") + 1
    sql = f"INSERT INTO runs ({INSERT_COLUMNS}, seq) VALUES ({', '.join('?' * (columns + 1))})"  # noqa: S608
    # The fill alone skips the journal: each page is written once, not to the WAL and then
    # again to the file. The claims measured afterwards run on the store's own settings.
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -1000000"):
        conn.execute(f"PRAGMA {pragma}")
    (last,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM runs").fetchone()

    at = [name.strip() for name in INSERT_COLUMNS.split(",")].index("body")

    def run_id(offset: int) -> str:
        return f"{last + offset:016x}"

    def rows() -> Iterator[tuple[object, ...]]:
        for offset in range(count):
            template_id, row = values[offset % 4]
            body = str(row[at]).replace(template_id, run_id(offset))
            yield (run_id(offset), *row[1:at], body, *row[at + 1 :], last + 1 + offset)

    derived = [(kind, name, ddl) for kind, name, ddl in _derived(conn)]
    conn.execute("BEGIN IMMEDIATE")
    for kind, name, _ in derived:
        conn.execute(f"DROP {kind} {name}")
    conn.executemany(sql, rows())
    for _, _, ddl in derived:
        conn.execute(ddl)
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()


def _derived(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """The runs table's triggers and named indexes, with the DDL that makes each again."""
    rows = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'runs'"
        " AND type IN ('trigger', 'index') AND sql IS NOT NULL"
    ).fetchall()
    return [(str(kind).upper(), str(name), str(ddl)) for kind, name, ddl in rows]


def dispatcher(path: str, barrier: Barrier, results: Any) -> None:
    """One dispatcher process: claim and run lives until the queue is empty."""
    store = SqliteRunStore(path)
    got = []
    barrier.wait()
    while (run := store.claim(QUEUE, T0, LEASE)) is not None:
        live(store, run)
        got.append(run.id)
    results.put((os.getpid(), time.monotonic(), got))
    store.close()


def life_dispatchers(path: Path, count: int, processes: int) -> float:
    """Runs/s of ``processes`` dispatcher processes moving ``count`` queued runs to finished."""
    open_store(path).close()
    bulk_enqueue(path, count)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes + 1), context.Queue()
    workers = [
        context.Process(target=dispatcher, args=(str(path), barrier, results)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.monotonic()
    reports = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    check_every_run_finished_once(path, count, [got for _, _, got in reports])
    return count / (max(ended for _, ended, _ in reports) - started)


def check_every_run_finished_once(path: Path, count: int, claims: list[list[str]]) -> None:
    """Each run was claimed by one process only, is finished and has the events of its life."""
    claimed = [run_id for got in claims for run_id in got]
    if len(claimed) != count or len(set(claimed)) != count:
        raise RuntimeError(f"{len(claimed)} claims ({len(set(claimed))} distinct) for {count} runs")
    store = SqliteRunStore(path)
    try:
        finished = store.list_runs(queue=QUEUE, states=[RunState.FINISHED], limit=count + 1)
        if {run.id for run in finished} != set(claimed):
            raise RuntimeError(f"{len(finished)} finished runs for {count} claimed")
        for run_id in claimed[:: max(1, count // 200)]:  # a sample: reading every history is slow
            states = [event.to_state.value for event in store.events(run_id)]
            if states != list(LIFE):
                raise RuntimeError(f"run {run_id} has the events {states}")
        conn = store._conn()
        (events,) = conn.execute(
            "SELECT SUM(json_array_length('[' || substr(history, 2) || ']')) FROM runs"
        ).fetchone()
        if events != count * len(LIFE):
            raise RuntimeError(f"{events} events for {count} lives of {len(LIFE)}")
    finally:
        store.close()


def claim_latency_ms(store: SqliteRunStore, claims: int) -> float:
    """Median ms of one claim at the store's current depth: each claimed run is stopped and a
    new one enqueued (untimed), so the depth stays put and every claim takes a different run.

    (Requeueing the claimed run would claim the same head run over and over, its history
    growing by two events per claim: that measures a run with thousands of moves, not depth.)"""
    samples = []
    for index in range(claims):
        started = time.perf_counter()
        run = store.claim(QUEUE, T0, LEASE)
        samples.append(time.perf_counter() - started)
        assert run is not None
        store.transition(run.id, RunState.CLAIMED, RunState.STOPPED, "bench", T0)
        store.add_run(new_run(index))
    return statistics.median(samples) * 1000


# -- the figures ----------------------------------------------------------------------------
@contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="launchq-store-bench-") as tmp:
        yield Path(tmp)


def paired(name: str, ours: list[float], reference: list[float], what: str) -> Figure:
    """The ratio ``ours / reference``, repetition by repetition."""
    ratios = [mine / ref for mine, ref in zip(ours, reference, strict=True)]
    return summarise(GROUP, name, "ratio", ratios, note=f"{what}, paired by repetition")


def throughput_figures(scale: Scale, count: int) -> list[Figure]:
    loops: dict[str, list[float]] = {name: [] for name in LOOPS}
    per_k: dict[int, list[float]] = {k: [] for k in DISPATCHERS}
    for _ in range(scale.repetitions):
        with scratch() as tmp:
            for name, rate in in_process(tmp, count).items():
                loops[name].append(rate)
            for k in DISPATCHERS:
                per_k[k].append(life_dispatchers(tmp / f"k{k}.db", count, k))
    note = f"{count} runs"
    bare, life, longer, threaded = (loops[name] for name in ("bare", "life", "running", "bare threaded"))
    figures = [
        summarise(GROUP, "bare SQLite claim+finish loop", "runs/s", bare, note=note),
        summarise(
            GROUP, "full life in process, 1 dispatcher", "runs/s", life, note=f"{note}, enqueue included"
        ),
        paired(
            "full life / bare loop",
            life,
            bare,
            "in-process life (enqueue, claim, submit, end) over the bare loop",
        ),
        paired(
            "full life with a running move / bare loop",
            longer,
            bare,
            "the same life with starting -> running (a job seen running)",
        ),
        summarise(GROUP, "bare loop, checkpoints in a thread", "runs/s", threaded, note=note),
        paired(
            "full life / bare loop with checkpoints in a thread",
            life,
            threaded,
            "the bare loop given the store's checkpoint thread too",
        ),
        paired(
            "claim, submit, end / bare claim+finish, queued beforehand",
            loops["claims"],
            loops["bare claims"],
            "issue 9's own measure: the life without its enqueue over the bare loop without its insert",
        ),
    ]
    for k, samples in per_k.items():
        name = f"full life, {k} dispatcher{'s' if k > 1 else ''}"
        figures.append(
            summarise(
                GROUP,
                name,
                "runs/s",
                samples,
                series="store full life",
                x=float(k),
                note=f"{note}, pre-enqueued",
            )
        )
    return figures


def latency_figures(scale: Scale, depths: tuple[int, ...]) -> list[Figure]:
    claims = scale.pick(100, 50)
    figures = []
    with scratch() as tmp:
        path = tmp / "deep.db"
        open_store(path).close()
        depth = 0
        for target in depths:
            bulk_enqueue(path, target - depth)
            depth = target
            store = SqliteRunStore(path)
            samples = [claim_latency_ms(store, claims) for _ in range(scale.repetitions)]
            store.close()
            figures.append(
                summarise(
                    GROUP,
                    f"claim latency, {target:.0e} queued",
                    "ms",
                    samples,
                    series="claim latency",
                    x=float(target),
                    note=f"median of {claims} claims",
                )
            )
    return figures


def run(scale: Scale) -> list[Figure]:
    """The store group's figures (see the module docstring)."""
    count, depths = sizes(scale)
    return throughput_figures(scale, count) + latency_figures(scale, depths)


if __name__ == "__main__":
    print(f"{os.cpu_count()} cores")
    for figure in run(Scale(quick="--quick" in sys.argv[1:])):
        print(figure.line(), flush=True)
