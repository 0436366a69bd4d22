"""Which server directories a run's local ``uri`` may name (``launchq serve --allow-dir``).

A local-directory ``uri`` is copied into the run's workspace by the server, so without a
bound any submitter could have ``/etc`` or another user's checkout copied into a run and
read back through its log. ``launchq serve --allow-dir DIR`` (repeatable;
``LAUNCHQ_ALLOW_DIRS``, paths separated by ``os.pathsep``) bounds it: the ``uri``, after
``..`` and every symlink are resolved, must be one of those directories or inside one.
When none is given:

- with auth on (``auth_required``), only the data directory and the directory the server
  was started in (the project it serves);
- with auth off, no bound: one user on loopback, who can read those files anyway.

The bound is one process-wide setting installed by ``launchq serve`` at start
(``allow_only``), because a local path is read in three places that do not share the
service's settings -- the enqueue check, the dispatcher's copy and a builder's context --
and all of them go through ``workspace.check_uri``, which asks ``check_allowed``. The copy
checks again at launch, so a symlink switched after enqueue is still caught. Symlinks
inside an allowed source are copied as links, never followed (``workspace._copy_dir``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from launchq.errors import InvalidInput

_lock = threading.Lock()
_allowed: tuple[Path, ...] | None = None  # None: no bound


def split_dirs(value: Any) -> Any:
    """``LAUNCHQ_ALLOW_DIRS``'s text as a list of paths (``os.pathsep``-separated, empties
    dropped); anything else (a list from ``--allow-dir``) as it is, for pydantic to check."""
    if isinstance(value, str):
        return [part for part in value.split(os.pathsep) if part]
    return value


def bound_for(given: Iterable[Path], *, auth_required: bool, data_dir: Path) -> tuple[Path, ...] | None:
    """The directories a server allows: ``given``; else the data dir and the current
    directory when auth is on; else None (no bound). Raises InvalidInput (``--allow-dir``)
    for a directory that does not exist."""
    dirs = list(given)
    for path in dirs:
        if not path.is_dir():
            raise InvalidInput(f"{str(path)!r} is not an existing directory", field="--allow-dir")
    if not dirs and auth_required:
        dirs = [data_dir, Path.cwd()]
    return tuple(path.resolve() for path in dirs) if dirs else None


def allow_only(dirs: tuple[Path, ...] | None) -> None:
    """Install the bound for this process (None lifts it)."""
    global _allowed  # noqa: PLW0603 - one setting for the process; see the module docstring
    with _lock:
        _allowed = None if dirs is None else tuple(path.resolve() for path in dirs)


def allowed() -> tuple[Path, ...] | None:
    """The directories allowed now (None: no bound)."""
    with _lock:
        return _allowed


def check_allowed(uri: str) -> None:
    """Refuse a local ``uri`` outside the allowed directories. Raises InvalidInput (``uri``)."""
    dirs = allowed()
    if dirs is None:
        return
    real = Path(uri).resolve()
    if any(real.is_relative_to(root) for root in dirs):
        return
    shown = ", ".join(str(root) for root in dirs)
    via = f" (it resolves to {str(real)!r})" if str(real) != uri else ""
    raise InvalidInput(
        f"{uri!r} is outside the directories this server allows{via}; allowed: {shown} "
        "(launchq serve --allow-dir)",
        field="uri",
    )
