"""A build context as the asynchronous builders ship it: packed into a temporary tarball,
with its Dockerfile named relative to it (CodeBuild and Kaniko both unpack the context
somewhere else, so an absolute Dockerfile path would point nowhere)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

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


def source_subdir(source: Path, subdir: str | None) -> Path:
    """The directory an image is built from: ``subdir`` of the prepared ``source`` (W&B's
    ``--build-context``, so a monorepo builds one project), else the whole source.

    Raises InvalidInput(field="build_context") when ``subdir`` leads out of the source (also
    through a symlink: the build must never see the machine's other files) or is not a directory.
    """
    if not subdir:
        return source
    relative = PurePosixPath(subdir)
    if relative.is_absolute() or ".." in relative.parts:
        raise InvalidInput(f"{subdir!r} must be a relative path inside the source", field="build_context")
    path = source.joinpath(*relative.parts).resolve()
    if not path.is_relative_to(source.resolve()):
        raise InvalidInput(f"{subdir!r} is outside the source", field="build_context")
    if not path.is_dir():
        raise InvalidInput(f"{subdir!r} is not a directory in the source", field="build_context")
    return path


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
