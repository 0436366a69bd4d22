"""A build context as the asynchronous builders ship it: packed into a temporary tarball,
with its Dockerfile named relative to it (CodeBuild and Kaniko both unpack the context
somewhere else, so an absolute Dockerfile path would point nowhere)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from launchq.build.tarball import pack_context
from launchq.errors import InvalidInput, LaunchFailed


def dockerfile_in_context(context: Path, dockerfile: str) -> str:
    """``dockerfile`` as a path inside ``context``. Raises InvalidInput outside it or missing."""
    given = Path(dockerfile)
    full = (given if given.is_absolute() else context / given).resolve()
    try:
        relative = full.relative_to(context.resolve())
    except ValueError:
        raise InvalidInput(f"{dockerfile!r} is not inside the build context", field="dockerfile") from None
    if not full.is_file():
        raise InvalidInput(f"{dockerfile!r} does not exist in the build context", field="dockerfile")
    return relative.as_posix()


@contextmanager
def packed_context(context: Path) -> Iterator[Path]:
    """``context`` packed (deterministic bytes) into a temporary ``context.tar.gz``, removed
    on exit. Raises LaunchFailed when it cannot be packed."""
    with tempfile.TemporaryDirectory(prefix="launchq-context-") as scratch:
        archive = Path(scratch) / "context.tar.gz"
        try:
            pack_context(context, archive)
        except OSError as exc:
            raise LaunchFailed(f"cannot pack the build context {context}: {exc}") from exc
        yield archive
