"""Known secret values replaced by ``***`` wherever launchq stores or serves text.

A job that prints its token, a launch error that quotes a config value, a build log that
echoes an environment: any of them would put a secret into a run's events, its log tail or
``GET /runs/{id}``, where every reader of the run sees it. launchq cannot know every secret,
but it knows two kinds, and those never leave it in the clear:

- the server's own credentials (``SERVER_CREDENTIALS``: ``AWS_SECRET_ACCESS_KEY``,
  ``AWS_SESSION_TOKEN``, ``LAUNCHQ_API_KEY``, ``WANDB_API_KEY``, ``AZURE_CLIENT_SECRET``),
  read from its environment at each use. Other variables are not guessed at by name: a
  queue that passes one on with ``inherit_env`` chose to, and its runs may print it;
- the values of the secrets runs were given (``config.secrets``), registered by the target
  that resolved them (``remember``).

A value shorter than ``MIN_LENGTH`` (4) characters is not redacted: no issued credential is
that short, and replacing every ``1``, ``ab`` or ``yes`` in a log would mangle ordinary
output while telling a reader where the "secret" stood. The choke points are few: where
events are written (``service.transitions``), where agents' log tails are saved
(``service.agents``), and every JSON body and error the API sends (``api.routes``,
``api.errors``).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, TypeVar

MASK = "***"
MIN_LENGTH = 4
#: The variables holding what the server itself signs in with (its cloud and W&B keys).
SERVER_CREDENTIALS = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAUNCHQ_API_KEY",
    "WANDB_API_KEY",
    "AZURE_CLIENT_SECRET",
)

_lock = threading.Lock()
_remembered: set[str] = set()

T = TypeVar("T")


def remember(values: Iterable[str]) -> None:
    """Add resolved secret values (this process, from now on) to what is redacted."""
    fresh = {value for value in values if len(value) >= MIN_LENGTH}
    with _lock:
        _remembered.update(fresh)


def server_secrets(environ: Mapping[str, str] | None = None) -> set[str]:
    """The values of the server's credential variables (``environ``: default os.environ)."""
    env = os.environ if environ is None else environ
    return {env[name] for name in SERVER_CREDENTIALS if len(env.get(name, "")) >= MIN_LENGTH}


def known_secrets() -> frozenset[str]:
    """Everything redacted now: the server's credentials and the remembered values."""
    with _lock:
        remembered = set(_remembered)
    return frozenset(server_secrets() | remembered)


@lru_cache(maxsize=8)
def _pattern(values: frozenset[str]) -> re.Pattern[str] | None:
    """One alternation, longest first, so a value containing another is masked whole."""
    if not values:
        return None
    return re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))


def redact(text: str, values: frozenset[str] | None = None) -> str:
    """``text`` with every known secret value (or each of ``values``) replaced by ``***``."""
    pattern = _pattern(known_secrets() if values is None else _long_enough(values))
    return text if pattern is None or not text else pattern.sub(MASK, text)


def redact_json(obj: T, values: frozenset[str] | None = None) -> T:
    """A JSON-like value (dicts, lists, strings) with every string redacted; keys too."""
    found = known_secrets() if values is None else _long_enough(values)
    return _walk(obj, found) if found else obj


def _walk(obj: Any, values: frozenset[str]) -> Any:
    if isinstance(obj, str):
        return redact(obj, values)
    if isinstance(obj, dict):
        return {_walk(key, values): _walk(item, values) for key, item in obj.items()}
    if isinstance(obj, list | tuple):
        return [_walk(item, values) for item in obj]
    return obj


def held_back(text: str, values: frozenset[str] | None = None) -> int:
    """How many characters at the end of ``text`` could be the start of a secret value.

    A log served in chunks may split a secret across two of them; each half alone escapes
    ``redact``. The caller keeps these characters for the next chunk (while the log grows).
    """
    found = known_secrets() if values is None else _long_enough(values)
    longest = 0
    for value in found:
        for size in range(min(len(value) - 1, len(text)), longest, -1):
            if text.endswith(value[:size]):
                longest = size
                break
    return longest


def _long_enough(values: frozenset[str]) -> frozenset[str]:
    return frozenset(value for value in values if len(value) >= MIN_LENGTH)


def redact_chunk(text: str, next_offset: int, size: Callable[[str], int] | None) -> tuple[str, int]:
    """A chunk of a growing log, redacted, with the end that could begin a secret held back
    for the next read (``next_offset`` moved back by ``size`` of it: bytes or characters,
    whatever the log's offsets count). ``size`` None: the log has ended or its offsets are
    not ours to move; nothing is held back."""
    found = known_secrets()
    if not found:
        return text, next_offset
    cut = held_back(text, found) if size is not None else 0
    if size is not None and cut:
        text, next_offset = text[:-cut], next_offset - size(text[-cut:])
    return redact(text, found), next_offset
