"""Runs to SQLite rows and back, and the statements that move them (``sqlite_schema``'s layout).

``body`` is the run as enqueued and never changes, so its parse is kept in a small cache
keyed by the text itself (a cached parse is never stale: different text is a different
key); a read is the cached run with the row's columns laid over it. Every field a move may
change is a column, so a move is one small ``UPDATE`` that never re-serialises the run.

The cached runs stay inside the store. What the store hands out is ``detached``: a copy
that owns every mutable value (the store contract: changing a run you got changes nothing
stored; ``sqlite_copies``). The handle and resolved arguments read from their JSON columns are
new objects already and are not copied again.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic_core import PydanticSerializationError, from_json, to_json

from launchq.adapters.stores.common import ENQUEUED_REASON
from launchq.adapters.stores.sqlite_copies import detached
from launchq.adapters.stores.sqlite_schema import HOLDING, LINES, WAITING
from launchq.domain.models import Run, RunEvent, RunUpdate
from launchq.domain.priority import Priority
from launchq.domain.states import RunState

#: The columns a read selects, in ``_overlay``'s order (``body`` last).
READ_COLUMNS = (
    "state, priority, seq, version, reason, updated_at, claimed_at, lease_expires_at,"
    " started_at, finished_at, exit_code, preemptions, build_id, image_uri, handle, resolved, body"
)

#: ``INSERT`` of a new run (its seq the next rowid), only if its queue exists; values from
#: ``insert_values`` then the queue's name. ``history`` starts with the "enqueued" event.
#: No ``RETURNING``: SQLite gathers returned rows in a temporary b-tree (pages allocated and
#: zeroed per statement); the cursor's ``lastrowid`` is the seq.
INSERT_COLUMNS = (
    "id, queue, state, priority, version, idempotency_key, reason, updated_at, claimed_at,"
    " lease_expires_at, started_at, finished_at, exit_code, preemptions, body, history, line"
)
INSERT_RUN = (
    f"INSERT INTO runs ({INSERT_COLUMNS}) SELECT {', '.join('?' * (INSERT_COLUMNS.count(',') + 1))}"  # noqa: S608
    " FROM queues WHERE name = ?"
)

_TIMES = ("updated_at", "claimed_at", "lease_expires_at", "started_at", "finished_at")
#: Columns a move may set besides state, version, reason and updated_at: every field of
#: ``RunUpdate`` (``clear_lease`` and ``new_attempt`` set the columns they clear).
MOVE_COLUMNS = frozenset(RunUpdate.model_fields) - {"clear_lease", "new_attempt"}
_JSON_COLUMNS = frozenset({"handle", "resolved"})
_JSON_TEXT = json.JSONEncoder(separators=(",", ":")).encode
_JSON_STRING: Callable[[str], str] = json.encoder.encode_basestring_ascii
_STATES = {state.value: state for state in RunState}
_PRIORITIES = {int(priority): priority for priority in Priority}
#: How many runs of a queue (the parameter) hold a slot: a count of the queue's ``HOLDING``
#: entries of the partial index ``runs_in_line`` (a handful, at most ``max_jobs``).
HOLDING_COUNT = f"SELECT COUNT(*) FROM runs INDEXED BY runs_in_line WHERE queue = ? AND line = {HOLDING}"  # noqa: S608
_MAX_JOBS = "COALESCE(q.max_jobs, json_extract(q.body, '$.max_jobs'))"

#: A queue's line (the parameter is the queue's name): its ``WAITING`` entries of the
#: partial index ``runs_in_line``, named so that the plan cannot drift to a scan of the
#: queue's runs (SQLite refuses the statement rather than not use an index it names).
IN_LINE = f"runs INDEXED BY runs_in_line WHERE queue = ? AND line = {WAITING}"
#: How many runs of a queue (the parameter) wait in its line.
COUNT_QUEUED = f"SELECT COUNT(*) FROM {IN_LINE}"  # noqa: S608 (constants)
#: Where a claim moves a run: the head of its queue's line, if the queue has a free slot
#: (both read under the write lock the statement takes before its WHERE reads anything).
#: Parameters: the queue's name, the queue's name.
CLAIM_WHERE = (
    f"seq = (SELECT seq FROM {IN_LINE} ORDER BY priority, seq LIMIT 1)"  # noqa: S608 (constants)
    " AND EXISTS (SELECT 1 FROM queues AS q WHERE q.name = ?"
    f" AND ({_MAX_JOBS} = -1 OR ({HOLDING_COUNT.replace('?', 'q.name')}) < {_MAX_JOBS}))"
)
#: Where a transition moves the run it read: that row (seq), still at the version and lease
#: read. A run's state changes only with its version, so the version stands for the state.
#: ``lease_expires_at`` is the one column a write changes without a new version (a lease
#: renewal): with it in the condition the row read, with the move's changes laid over it,
#: is exactly the row written.
MOVE_WHERE = "seq = ? AND version = ? AND lease_expires_at IS ?"
#: Where each value of a ``READ_COLUMNS`` row is.
READ_INDEX = {name.strip(): index for index, name in enumerate(READ_COLUMNS.split(","))}
#: Where a move applies to a run's row exactly as the store last saw it (``SeenRows``):
#: every column a read hands out but ``body`` (never rewritten) equal to the row seen
#: (``IS``: NULL-safe). Parameters: the seen row's values but its last (``body``).
SEEN_WHERE = " AND ".join("seq = ?" if name == "seq" else f"{name} IS ?" for name in list(READ_INDEX)[:-1])


def iso(value: datetime | None) -> str | None:
    """A timestamp column's text (``datetime.fromisoformat`` reads it back exactly)."""
    return None if value is None else value.isoformat()


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def json_text(value: object) -> str:
    """A JSON column's text: compact, ASCII, NaN and infinities as Python's ``json`` writes
    them (pydantic's encoder: what the run's ``body`` is written with, in a sixth of the
    time ``json.dumps`` takes, which builds a new encoder per call). Python's ``json`` for
    what pydantic's refuses (a lone surrogate, which UTF-8 cannot hold)."""
    try:
        return to_json(value, ensure_ascii=True, inf_nan_mode="constants").decode()
    except PydanticSerializationError:
        return _JSON_TEXT(value)


def _json_value(text: str) -> object:
    """A JSON column's value: pydantic's parser (as ``json.loads``, in a fifth of its time),
    Python's ``json`` for what pydantic's refuses (an escaped lone surrogate)."""
    try:
        return from_json(text)
    except ValueError:
        return json.loads(text)


def _column_value(name: str, value: object, now: datetime, at: str) -> object:
    if isinstance(value, datetime):
        return at if value is now else value.isoformat()  # a move's times are often its own
    if name in _JSON_COLUMNS:
        return json_text(value)
    return value


def event_text(at: str, from_state: str | None, to_state: str, reason: str) -> str:
    """One event as ``history`` holds it: ``,[at, from_state, to_state, reason]`` (JSON; the
    reason is quoted by json's own string encoder, the rest are ISO times and state names)."""
    start = "null" if from_state is None else f'"{from_state}"'
    return f',["{at}",{start},"{to_state}",{_JSON_STRING(reason)}]'


def history_events(run_id: str, text: str) -> list[RunEvent]:
    """The events of a run's history text (its chunks in order, then its column)."""
    if not text:
        return []
    return [
        RunEvent(
            run_id=run_id,
            at=datetime.fromisoformat(at),
            from_state=None if from_state is None else _STATES[from_state],
            to_state=_STATES[to_state],
            reason=reason,
        )
        for at, from_state, to_state, reason in json.loads(f"[{text[1:]}]")
    ]


def insert_values(run: Run, body: str) -> tuple[object, ...]:
    """``INSERT_RUN``'s parameters (but the queue's name) for ``run`` serialised as ``body``;
    its history is the "enqueued" event, at the run's creation."""
    created, state = run.created_at.isoformat(), run.state.value
    return (
        run.id,
        run.queue,
        state,
        int(run.priority),
        run.version,
        run.idempotency_key,
        run.reason,
        *(created if (value := getattr(run, name)) is run.created_at else iso(value) for name in _TIMES),
        run.exit_code,
        run.preemptions,
        body,
        event_text(created, None, state, ENQUEUED_REASON),
        LINES[run.state],
    )


def move_sql(columns: tuple[str, ...], where: str, expected: RunState, to: RunState) -> str:
    """The one-statement move ``expected -> to``: new state and reason, the next version,
    ``columns`` set and the move's event (``event_text``) appended to the history, where
    ``where`` holds; ``line`` set only if the move changes it (``_line_sql``). No
    ``RETURNING`` (see ``moved_row``). Parameters: state, reason, updated_at, the columns'
    values, the event, then ``where``'s."""
    return _move_sql(columns, where, _line_sql(LINES[expected], LINES[to]))


def _line_sql(was: int | None, becomes: int | None) -> str:
    """``, line = ...`` for a move that changes a run's line, else nothing: an ``UPDATE``
    that does not name ``line`` leaves the index ``runs_in_line`` alone (no page written),
    and the move's condition on the state (``where``) is a condition on the line too."""
    if was == becomes:
        return ""
    return ", line = NULL" if becomes is None else f", line = {becomes}"


@functools.lru_cache(maxsize=256)
def _move_sql(columns: tuple[str, ...], where: str, line: str) -> str:
    """``move_sql``'s text. ``columns`` are checked against the columns a move may set (they
    come from ``RunUpdate``'s field names)."""
    unknown = set(columns) - MOVE_COLUMNS
    if unknown:
        raise ValueError(f"not columns a move sets: {sorted(unknown)}")
    sets = "".join(f", {name} = ?" for name in columns)
    return (
        f"UPDATE runs SET state = ?, version = version + 1, reason = ?, updated_at = ?{sets}{line},"  # noqa: S608
        f" history = history || ? WHERE {where}"
    )


def move_values(
    changes: dict[str, object], now: datetime, at: str
) -> tuple[tuple[str, ...], tuple[object, ...]]:
    """The columns and values ``move_sql`` sets for ``changes`` (``common.update_changes``)
    in a move at ``now`` (``at`` its text)."""
    columns = tuple(sorted(changes))
    return columns, tuple(_column_value(name, changes[name], now, at) for name in columns)


def moved_row(
    row: Sequence[Any], state: str, reason: str, at: str, columns: tuple[str, ...], values: tuple[object, ...]
) -> list[Any]:
    """The ``READ_COLUMNS`` row a ``move_sql`` with these parameters wrote over ``row``, the
    row it read or last saw (its condition held: ``MOVE_WHERE``, ``SEEN_WHERE``).

    A move that knows the row, rather than ``RETURNING`` it, is what a move costs least:
    SQLite gathers returned rows in a temporary b-tree, opened, zeroed and closed per
    statement. A claim does not know its row beforehand, and there one ``UPDATE ...
    RETURNING`` costs less than a read of the head and an ``UPDATE`` (about 5 us a claim)."""
    moved = list(row)
    moved[0], moved[3], moved[4], moved[5] = state, row[3] + 1, reason, at
    for name, value in zip(columns, values, strict=True):
        moved[READ_INDEX[name]] = value
    return moved


def _overlay(row: Sequence[Any]) -> tuple[Run, dict[str, object]]:
    (state, priority, seq, version, reason, updated_at, claimed_at, lease_expires_at, started_at,
     finished_at, exit_code, preemptions, build_id, image_uri, handle, resolved, body) = row  # fmt: skip
    columns: dict[str, object] = {
        "state": _STATES[state],
        "priority": _PRIORITIES[priority],
        "seq": seq,
        "version": version,
        "reason": reason,
        "updated_at": _time(updated_at),
        "claimed_at": _time(claimed_at),
        "lease_expires_at": _time(lease_expires_at),
        "started_at": _time(started_at),
        "finished_at": _time(finished_at),
        "exit_code": exit_code,
        "preemptions": preemptions,
    }
    # NULL: as in body (what enqueue and the migration leave)
    if build_id is not None:
        columns["build_id"] = build_id
    if image_uri is not None:
        columns["image_uri"] = image_uri
    if handle is not None:
        columns["handle"] = _json_value(handle)
    if resolved is not None:
        columns["resolved"] = _json_value(resolved)
    return PARSED.get(body), columns


def stored_run(row: Sequence[Any]) -> Run:
    """The run a ``SELECT {READ_COLUMNS}`` row holds, sharing nested values with the cache:
    for the store's own use only."""
    parsed, columns = _overlay(row)
    return parsed.model_copy(update=columns)


def handed_out(row: Sequence[Any]) -> Run:
    """The run a ``SELECT {READ_COLUMNS}`` row holds, as a copy the caller owns."""
    parsed, columns = _overlay(row)
    return detached(parsed, columns)


class ParseCache:
    """Parsed run bodies by their text, evicting the oldest past ``max_chars`` of keys.

    Thread-safe: a lock around the dictionary's changes (a parse happens outside it).
    """

    def __init__(self, max_chars: int = 2_000_000) -> None:
        self.max_chars = max_chars
        self._parsed: dict[str, Run] = {}
        self._chars = 0
        self._lock = threading.Lock()

    def get(self, body: str) -> Run:
        """The parse of ``body`` (validated once, then reused). Never hand it out as is."""
        found = self._parsed.get(body)
        if found is None:
            found = Run.model_validate_json(body)
            self.put(body, found)
        return found

    def drop(self, body: str) -> None:
        """Forget ``body``'s parse (its run ended: a read of it is rare, and parses again)."""
        with self._lock:
            if self._parsed.pop(body, None) is not None:
                self._chars -= len(body)

    def put(self, body: str, run: Run) -> None:
        """Remember that ``body`` parses to ``run``, which nobody outside the store holds."""
        with self._lock:
            if body in self._parsed:
                return
            self._parsed[body] = run
            self._chars += len(body)
            while self._chars > self.max_chars and len(self._parsed) > 1:
                oldest = next(iter(self._parsed))
                self._chars -= len(oldest)
                del self._parsed[oldest]


PARSED = ParseCache()


class SeenRows:
    """The ``READ_COLUMNS`` row of each run as this store last read or wrote it, by run id
    (the newest ``size``): a move of a run seen here tries ``SEEN_WHERE`` first, one
    conditional ``UPDATE`` without the read before it. The condition compares every column,
    so a row that changed in any way since (another process's move, a lease renewal, a
    rewrite by older code without a new version) is left alone, and the move reads the row
    and tries again: an entry may be stale, the row handed back never is. Thread-safe."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._rows: dict[str, Sequence[Any]] = {}
        self._lock = threading.Lock()

    def get(self, run_id: str) -> Sequence[Any] | None:
        return self._rows.get(run_id)

    def drop(self, run_id: str) -> None:
        with self._lock:
            self._rows.pop(run_id, None)

    def put(self, run_id: str, row: Sequence[Any]) -> None:
        with self._lock:
            self._rows.pop(run_id, None)  # the newest last: eviction takes the least recent
            self._rows[run_id] = row
            if len(self._rows) > self.size:
                del self._rows[next(iter(self._rows))]
