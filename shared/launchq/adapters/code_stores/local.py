"""Uploaded code archives as files in a local directory: local mode's ``CodeStore``.

The port (``launchq.ports.CodeStore``) checks and names an upload; this backend keeps it at
``<directory>/<sha256>``, written to a temporary file and renamed, so a reader never sees
half an archive. Disk errors are BackendUnavailable; a digest with no file is NotFound.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from launchq.domain.code_ref import CODE_SCHEME
from launchq.errors import BackendUnavailable, NotFound
from launchq.ports import CodeStore

__all__ = ["LocalCodeStore"]

_CHUNK = 1024 * 1024


class LocalCodeStore(CodeStore):
    """Archives as files ``<directory>/<sha256>`` on the local disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, digest: str) -> Path:
        return self.directory / digest

    def _write(self, digest: str, data: bytes) -> None:
        target = self._path(digest)
        if target.is_file():
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".upload-", dir=self.directory)
            try:
                with os.fdopen(handle, "wb") as stream:
                    stream.write(data)
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise BackendUnavailable(f"cannot store code in {self.directory}: {exc}") from None

    def _read_into(self, digest: str, path: Path) -> None:
        source = self._path(digest)
        try:
            with source.open("rb") as reader, path.open("wb") as writer:
                shutil.copyfileobj(reader, writer, _CHUNK)
        except FileNotFoundError:
            raise NotFound(f"no uploaded code {CODE_SCHEME}{digest}", field="uri") from None
        except OSError as exc:
            raise BackendUnavailable(f"cannot read code from {self.directory}: {exc}") from None
