"""How the SQLite store writes a move (its layout, ``sqlite_schema``; its rows, ``sqlite_rows``).

A move rewrites only the columns that change; ``body`` (the run as enqueued) is never
rewritten. A move's event is appended to the run's own ``history`` in the moving
statement, so a move between active states writes no page but the run's row; a long
history spills into ``run_history`` chunks and reads back whole and in order.
The runs handed out share nothing mutable with the store's parse cache or with each other.
The claim finds its run through an index, so its cost does not grow with the queue.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from launchq.adapters.stores import sqlite as sqlite_store
from launchq.adapters.stores.common import update_changes
from launchq.adapters.stores.sqlite import SqliteRunStore
from launchq.adapters.stores.sqlite_rows import (
    CLAIM_WHERE,
    COUNT_QUEUED,
    HOLDING_COUNT,
    MOVE_WHERE,
    SEEN_WHERE,
    move_sql,
)
from launchq.adapters.stores.sqlite_schema import ACTIVE_SQL, CHUNKS_PER_RUN, EVENT_BITS, LINES, SPILL_CHARS
from launchq.domain.build_options import AcceleratorOptions, BuildOptions
from launchq.domain.models import Run, RunSpec, RunUpdate
from launchq.domain.states import ALLOWED
from launchq.domain.states import RunState as S
from launchq.errors import StaleWrite
from tests.contract.conftest import build_queue, build_run

T0 = datetime(2030, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(seconds=1)
LEASE = T0 + timedelta(minutes=5)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "launchq.db"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteRunStore]:
    opened = SqliteRunStore(path)
    opened.create_queue(build_queue("gpu", max_jobs=2))
    yield opened
    opened.close()


def _row(path: Path, run_id: str, columns: str) -> tuple[object, ...]:
    with sqlite3.connect(path) as conn:
        row: tuple[object, ...] = conn.execute(
            f"SELECT {columns} FROM runs WHERE id = ?",  # noqa: S608 (the test's own columns)
            (run_id,),
        ).fetchone()
    conn.close()
    return row


def _claimed(store: SqliteRunStore) -> Run:
    run, _ = store.add_run(build_run("gpu"))
    claimed = store.claim("gpu", T0, LEASE)
    assert claimed is not None
    assert claimed.id == run.id
    return claimed


def test_a_move_without_body_fields_leaves_the_body_text_alone(store: SqliteRunStore, path: Path) -> None:
    # GIVEN a claimed run
    run = _claimed(store)
    (body,) = _row(path, run.id, "body")
    # WHEN it moves with only column fields (the lease cleared, a start time)
    store.transition(
        run.id, S.CLAIMED, S.STARTING, "submitted", T1, RunUpdate(clear_lease=True, started_at=T1)
    )
    # THEN the columns changed and the body is the same text
    assert _row(path, run.id, "state, version, claimed_at, started_at, body") == (
        "starting",
        3,
        None,
        T1.isoformat(),
        body,
    )


def test_a_move_that_sets_the_handle_and_resolved_args_writes_their_columns_not_the_body(
    store: SqliteRunStore, path: Path
) -> None:
    run = _claimed(store)
    (body,) = _row(path, run.id, "body")
    update = RunUpdate(handle={"pid": "7"}, resolved={"env": {"A": "1"}}, build_id="b-1", image_uri="r/i:1")
    moved = store.transition(run.id, S.CLAIMED, S.STARTING, "submitted", T1, update)
    assert _row(path, run.id, "handle, resolved, build_id, image_uri, body") == (
        '{"pid":"7"}',
        '{"env":{"A":"1"}}',
        "b-1",
        "r/i:1",
        body,
    )
    assert Run.model_validate_json(str(body)).handle == {}
    assert store.get_run(run.id) == moved
    assert (moved.handle, moved.resolved, moved.build_id, moved.image_uri) == (
        {"pid": "7"},
        {"env": {"A": "1"}},
        "b-1",
        "r/i:1",
    )


def test_a_run_whose_history_is_full_cannot_move_and_nothing_is_overwritten(
    store: SqliteRunStore, path: Path
) -> None:
    # GIVEN a claimed run whose spilled history already holds its last possible chunk
    run = _claimed(store)
    last = (run.seq << EVENT_BITS) + CHUNKS_PER_RUN - 1
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO run_history (key, body) VALUES (?, '')", (last,))
    conn.close()
    events = store.events(run.id)
    # WHEN a move would spill one chunk more  THEN it is refused and the run stays as it was
    with pytest.raises(sqlite3.IntegrityError, match="at most 16777216 history chunks"):
        store.transition(run.id, S.CLAIMED, S.STARTING, "x" * SPILL_CHARS, T1)
    assert store.get_run(run.id) == run
    assert store.events(run.id) == events


def test_a_long_history_spills_into_chunks_and_reads_back_whole_and_in_order(
    store: SqliteRunStore, path: Path
) -> None:
    # GIVEN a run claimed and put back in line 60 times (its history far past SPILL_CHARS)
    run = _claimed(store)
    for turn in range(60):
        store.transition(run.id, S.CLAIMED, S.QUEUED, f"claim expired {turn}; back in line", T1)
        again = store.claim("gpu", T1, LEASE)
        assert again is not None
        assert again.id == run.id
    # WHEN its events are read
    events = store.events(run.id)
    # THEN every one is there, in order; the row keeps only the tail, the rest is in chunks
    assert len(events) == store.get_run(run.id).version == 2 + 2 * 60
    assert [e.reason for e in events[2::2]] == [f"claim expired {turn}; back in line" for turn in range(60)]
    assert all(e.run_id == run.id for e in events)
    (history,) = _row(path, run.id, "history")
    assert 0 < len(str(history)) <= SPILL_CHARS
    with sqlite3.connect(path) as conn:
        (chunks,) = conn.execute(
            "SELECT COUNT(*) FROM run_history WHERE key >> ? = ?", (EVENT_BITS, run.seq)
        ).fetchone()
    conn.close()
    assert chunks >= 3


def _wal_pages(path: Path) -> list[int]:
    """The page numbers of the frames in ``path``'s WAL, in order (header 32 bytes, each frame
    a 24-byte header starting with its page number, then the page)."""
    wal = path.with_name(path.name + "-wal").read_bytes()
    size = 24 + int.from_bytes(wal[8:12], "big")
    return [int.from_bytes(wal[at : at + 4], "big") for at in range(32, len(wal), size)]


def test_moves_between_active_states_write_only_the_run_row(store: SqliteRunStore, path: Path) -> None:
    # GIVEN a claimed run, and the WAL emptied (no checkpoint will run during the moves)
    run = _claimed(store)
    conn = store._conn()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    # WHEN it moves claimed -> starting -> running (it keeps its slot)
    store.transition(run.id, S.CLAIMED, S.STARTING, "submitted", T1, RunUpdate(handle={"pid": "7"}))
    store.transition(run.id, S.STARTING, S.RUNNING, "running", T1, RunUpdate(started_at=T1))
    # THEN the only page written is the run row's: its line is the same (it holds its slot),
    # so the moves do not name the column and SQLite leaves the line index alone; no queue
    # row, no second table
    owners = dict(conn.execute("SELECT pageno, name FROM dbstat"))
    assert {owners[page] for page in _wal_pages(path)} == {"runs"}


def test_each_move_records_one_event_and_a_stale_move_records_none(store: SqliteRunStore) -> None:
    # GIVEN a claimed run
    run = _claimed(store)
    # WHEN a move from a state it is not in is refused
    with pytest.raises(StaleWrite, match=f"run {run.id} is claimed, not starting"):
        store.transition(run.id, S.STARTING, S.RUNNING, "late", T1)
    # THEN nothing was stored: same version, no event; the next real move records one event
    assert store.get_run(run.id) == run
    store.transition(run.id, S.CLAIMED, S.STARTING, "submitted", T1)
    events = store.events(run.id)
    assert [(e.from_state, e.to_state, e.reason, e.at) for e in events] == [
        (None, S.QUEUED, "enqueued", run.created_at),
        (S.QUEUED, S.CLAIMED, "claimed by dispatcher", T0),
        (S.CLAIMED, S.STARTING, "submitted", T1),
    ]


def test_runs_handed_out_share_no_nested_value(store: SqliteRunStore) -> None:
    # GIVEN a run read twice, and the run a move returned
    run = _claimed(store)
    first, second = store.get_run(run.id), store.get_run(run.id)
    # WHEN the caller changes nested values of what it got
    first.spec.env["LEAK"] = "1"
    first.spec.entry_point.append("--leak")
    first.build.python_version = "3.99"
    run.spec.args.append("--leak")
    # THEN neither the other copy nor the stored run changed
    for read in (second, store.get_run(run.id)):
        assert read.spec.env == {}
        assert read.spec.entry_point == ["python", "train.py"]
        assert read.spec.args == []
        assert read.build.python_version is None


def test_a_queue_over_its_limit_is_not_claimed_from(store: SqliteRunStore) -> None:
    # GIVEN a queue of max_jobs 2 with two claimed runs and one queued
    _claimed(store)
    _claimed(store)
    waiting, _ = store.add_run(build_run("gpu"))
    # WHEN claimed from  THEN nothing: no slot; once a run ends, the waiting run is claimed
    assert store.claim("gpu", T0, LEASE) is None
    (active, *_) = store.list_runs(queue="gpu", states=[S.CLAIMED])
    store.transition(active.id, S.CLAIMED, S.STOPPED, "stopped", T1)
    claimed = store.claim("gpu", T0, LEASE)
    assert claimed is not None
    assert claimed.id == waiting.id


@pytest.mark.parametrize("where", [CLAIM_WHERE, MOVE_WHERE, SEEN_WHERE])
def test_moves_find_their_row_through_an_index(store: SqliteRunStore, where: str) -> None:
    # The claim's cost must not grow with the queue: no step of its plan scans the runs table.
    columns = ("claimed_at", "lease_expires_at")
    sql = move_sql(columns, where, S.QUEUED, S.CLAIMED)
    plan = store._conn().execute(f"EXPLAIN QUERY PLAN {sql}", ("x",) * sql.count("?")).fetchall()
    details = [str(row[3]) for row in plan]
    assert details
    assert not [step for step in details if step.startswith("SCAN")], details


@pytest.mark.parametrize(
    ("sql", "parameters"),
    [
        (sqlite_store._AHEAD, 3),
        (sqlite_store._PLACES, 2),
        (COUNT_QUEUED, 1),
        (HOLDING_COUNT, 1),
    ],
    ids=["position", "positions", "count-queued", "count-active"],
)
def test_the_line_reads_use_the_line_index(store: SqliteRunStore, sql: str, parameters: int) -> None:
    # A queue's position, places and counts must not read every run of the table.
    plan = store._conn().execute(f"EXPLAIN QUERY PLAN {sql}", ("x",) * parameters).fetchall()
    details = [str(row[3]) for row in plan]
    assert any("INDEX runs_in_line" in step for step in details), details
    assert not [step for step in details if step.startswith("SCAN runs")], details


def test_a_move_may_set_only_the_columns_a_move_owns() -> None:
    with pytest.raises(ValueError, match=r"not columns a move sets: \['body'\]"):
        move_sql(("body",), MOVE_WHERE, S.CLAIMED, S.STARTING)


def test_the_claim_reads_the_line_from_its_partial_index_and_the_slot_count_from_the_queue(
    store: SqliteRunStore,
) -> None:
    # SQLite uses a partial index only for a query naming its condition with the same literals.
    sql = move_sql(("claimed_at", "lease_expires_at"), CLAIM_WHERE, S.QUEUED, S.CLAIMED)
    plan = store._conn().execute(f"EXPLAIN QUERY PLAN {sql}", ("x",) * sql.count("?")).fetchall()
    details = " | ".join(str(row[3]) for row in plan)
    assert "USING COVERING INDEX runs_in_line (queue=? AND line=?)" in details
    assert "SEARCH q USING INDEX sqlite_autoindex_queues_1 (name=?)" in details


def _counted(path: Path) -> list[tuple[object, ...]]:
    """Each queue's slot count as the claim counts it (the ``HOLDING`` entries of the index
    ``runs_in_line``) beside a count of its active runs over the whole table, and the same
    for its line and its queued runs."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT name, (SELECT COUNT(*) FROM runs INDEXED BY runs_in_line"  # noqa: S608
            " WHERE runs.queue = queues.name AND line = 1),"
            " (SELECT COUNT(*) FROM runs NOT INDEXED WHERE runs.queue = queues.name"
            f" AND state IN {ACTIVE_SQL}),"
            " (SELECT COUNT(*) FROM runs INDEXED BY runs_in_line"
            " WHERE runs.queue = queues.name AND line = 0),"
            " (SELECT COUNT(*) FROM runs NOT INDEXED WHERE runs.queue = queues.name AND state = 'queued')"
            " FROM queues ORDER BY name"
        ).fetchall()
    conn.close()
    return rows


def test_the_slot_count_follows_runs_into_and_out_of_the_active_states(
    store: SqliteRunStore, path: Path
) -> None:
    # The line index counts a run only while it is active: claimed -> starting -> running keeps
    # it, a requeue or an end gives it back; at each step it equals a count of the runs.
    store.create_queue(build_queue("cpu", max_jobs=-1))
    run = _claimed(store)
    assert (store.count_active("gpu"), store.count_queued("gpu")) == (1, 0)
    store.transition(run.id, S.CLAIMED, S.QUEUED, "claim expired", T1, RunUpdate(clear_lease=True))
    assert (store.count_active("gpu"), store.count_queued("gpu")) == (0, 1)
    run = store.claim("gpu", T1, LEASE)
    assert run is not None
    store.transition(run.id, S.CLAIMED, S.STARTING, "submitted", T1)
    store.transition(run.id, S.STARTING, S.RUNNING, "running", T1)
    assert store.count_active("gpu") == 1
    other, _ = store.add_run(build_run("cpu"))
    assert store.claim("cpu", T1, LEASE) is not None
    assert _counted(path) == [("cpu", 1, 1, 0, 0), ("gpu", 1, 1, 0, 0)]
    store.transition(run.id, S.RUNNING, S.FINISHED, "exit 0", T1, RunUpdate(exit_code=0))
    store.transition(other.id, S.CLAIMED, S.STOPPED, "stopped", T1)
    assert _counted(path) == [("cpu", 0, 0, 0, 0), ("gpu", 0, 0, 0, 0)]
    store.add_run(build_run("gpu"))
    assert (store.count_active("gpu"), store.count_queued("gpu"), store.count_active("none")) == (0, 1, 0)


def _paths_from_queued() -> dict[S, list[S]]:
    """The shortest chain of allowed moves from queued to each state."""
    paths, todo = {S.QUEUED: [S.QUEUED]}, [S.QUEUED]
    while todo:
        state = todo.pop(0)
        for nxt in sorted(ALLOWED[state]):
            if nxt not in paths:
                paths[nxt] = [*paths[state], nxt]
                todo.append(nxt)
    return paths


@pytest.mark.parametrize("fresh", [False, True], ids=["as-seen", "read-first"])
@pytest.mark.parametrize(
    ("source", "to"), sorted((source, to) for source, targets in ALLOWED.items() for to in targets)
)
def test_every_allowed_move_leaves_the_run_in_the_line_its_state_has(
    store: SqliteRunStore, path: Path, source: S, to: S, fresh: bool
) -> None:
    # GIVEN a run brought along allowed moves to ``source`` (no limit on its queue)
    store.create_queue(build_queue("cpu", max_jobs=-1))
    run, _ = store.add_run(build_run("cpu"))
    for before, after in itertools.pairwise(_paths_from_queued()[source]):
        if (before, after) == (S.QUEUED, S.CLAIMED):
            claimed = store.claim("cpu", T0, LEASE)
            assert claimed is not None
            assert claimed.id == run.id
        else:
            store.transition(run.id, before, after, "moved", T0)
    # WHEN it makes the move: through this store, which moves the row as it last saw it, or
    # through another, which reads the row first
    mover = SqliteRunStore(path) if fresh else store
    mover.transition(run.id, source, to, "the move", T1)
    if fresh:
        mover.close()
    # THEN its line column is its new state's, and the line index agrees with the states
    (line,) = _row(path, run.id, "line")
    assert line == LINES[to]
    for _, holding, active, waiting, queued in _counted(path):
        assert (holding, waiting) == (active, queued)


def test_an_event_reason_of_any_text_reads_back_exactly(store: SqliteRunStore) -> None:
    # GIVEN a reason with quotes, backslashes, control characters, non-ASCII and JSON syntax
    reason = 'exit 1: "x\\y"\n\tü 日本 \x00 \u2028 😀 ],["2030",null,"queued","forged"]'
    run = _claimed(store)
    # WHEN a move records it
    store.transition(run.id, S.CLAIMED, S.STARTING, reason, T1)
    # THEN the history holds it as one event, exactly (no forged event from its text)
    events = store.events(run.id)
    assert [e.reason for e in events] == ["enqueued", "claimed by dispatcher", reason]
    assert store.get_run(run.id).reason == reason


def test_nested_json_and_models_of_a_run_handed_out_are_its_own(store: SqliteRunStore) -> None:
    # GIVEN a run whose spec and build hold nested JSON and a nested model (sqlite_copies
    # copies each field by its annotation: this checks every kind it tells apart)
    spec = RunSpec(
        entry_point=["python", "train.py"],
        env={"A": "1"},
        template_variables={"lr": 0.1},
        resource_args={"local-process": {"deep": [{"x": 1}]}},
        run_config={"layers": [1, 2]},
    )
    image = "nvidia/cuda:12.4.1-runtime-ubuntu22.04"
    accelerated = BuildOptions(accelerator=AcceleratorOptions(base_image=image))
    run, _ = store.add_run(build_run("gpu").model_copy(update={"spec": spec, "build": accelerated}))
    claimed = store.claim("gpu", T0, LEASE)
    assert claimed is not None
    moved = store.transition(
        run.id, S.CLAIMED, S.STARTING, "submitted", T1, RunUpdate(resolved={"a": {"b": [1]}})
    )
    # WHEN the caller changes nested values of each run it got
    for got in (run, claimed, moved, store.get_run(run.id)):
        got.spec.resource_args["local-process"]["deep"][0]["x"] = 2
        assert got.spec.run_config is not None
        got.spec.run_config["layers"].append(3)
        got.spec.template_variables["lr"] = 9
        assert got.build.accelerator is not None
        got.build.accelerator.base_image = "changed"
        got.resolved.setdefault("a", {}).setdefault("b", []).append(2)
    # THEN what is stored is as written
    read = store.get_run(run.id)
    assert read.spec.resource_args == {"local-process": {"deep": [{"x": 1}]}}
    assert read.spec.run_config == {"layers": [1, 2]}
    assert read.spec.template_variables == {"lr": 0.1}
    assert read.build == BuildOptions(accelerator=AcceleratorOptions(base_image=image))
    assert read.resolved == {"a": {"b": [1]}}
    assert read.model_fields_set == moved.model_fields_set


@pytest.mark.parametrize(
    "update",
    [
        RunUpdate(),
        RunUpdate(handle={"pid": "1"}, resolved={"a": {"b": [1]}}, started_at=T0, clear_lease=True),
        RunUpdate(exit_code=0, finished_at=T1, preemptions=2),
        RunUpdate(new_attempt=True, build_id="b-1", image_uri="registry/x:1"),
        RunUpdate(claimed_at=T0, lease_expires_at=LEASE),
    ],
)
def test_a_move_writes_the_changes_the_other_stores_apply(update: RunUpdate) -> None:
    # The SQLite store reads a RunUpdate's own values (it serialises them at once); the
    # other stores keep copies. Both must be the same changes.
    assert update_changes(update, shared=True) == update_changes(update)


def test_json_columns_of_any_value_read_back_as_python_json_would(store: SqliteRunStore, path: Path) -> None:
    # GIVEN a handle and resolved arguments with what JSON text can be awkward about:
    # NaN and infinities, big integers, non-ASCII, nesting, and a lone surrogate
    handle = {"pid": "7", "é日本😀": "ü", "lone": "a\ud800b"}
    resolved: dict[str, object] = {
        "nan": float("nan"),
        "inf": float("-inf"),
        "big": 10**30,
        "x": [1, 2.5, None],
    }
    run = _claimed(store)
    # WHEN a move writes them
    moved = store.transition(
        run.id, S.CLAIMED, S.STARTING, "submitted", T1, RunUpdate(handle=handle, resolved=resolved)
    )
    # THEN the columns hold ASCII JSON text, and a fresh store reads back what Python's json
    # module reads from the text it writes for the same values
    texts = _row(path, run.id, "handle, resolved")
    assert all(str(text).isascii() for text in texts)
    fresh = SqliteRunStore(path)
    try:
        got = fresh.get_run(run.id)
    finally:
        fresh.close()
    for value, read, handed in ((handle, got.handle, moved.handle), (resolved, got.resolved, moved.resolved)):
        expected = json.loads(json.dumps(value))
        assert json.dumps(read) == json.dumps(expected) == json.dumps(handed)
