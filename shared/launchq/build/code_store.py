"""Uploaded code tarballs (``POST /code``), stored by content and named ``code://<sha256>``.

A reference is the sha256 of the uploaded bytes, so uploading the same archive twice gives
the same reference and a stored archive can be checked on the way out. :class:`CodeStore`
does the shared work (validation, naming, integrity); a backend fills two hooks:

* ``_write(digest, data)``: keep ``data`` under ``digest``; idempotent, since the same
  digest always carries the same bytes. Raises BackendUnavailable.
* ``_read_into(digest, path)``: write what is stored under ``digest`` to the file ``path``.
  Raises NotFound when nothing is stored under it, BackendUnavailable otherwise.

:class:`LocalCodeStore` keeps archives as files in a directory (local mode); a bucket
store implements the same two hooks.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path

from launchq.build.tarball import check_archive
from launchq.errors import BackendUnavailable, InvalidInput, LaunchFailed, NotFound

CODE_SCHEME = "code://"
MAX_UPLOAD_BYTES = 512 * 1024**2
"""Largest archive ``put`` accepts: 512 MiB (compressed size, as uploaded)."""

_REF = re.compile(r"^code://(?P<digest>[0-9a-f]{64})$")
_CHUNK = 1024 * 1024


def is_code_ref(uri: str) -> bool:
    """Whether ``uri`` is meant as an uploaded-code reference (well-formed or not)."""
    return uri.startswith(CODE_SCHEME)


def _sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class CodeStore(ABC):
    """Content-addressed storage of code archives."""

    def put(self, data: bytes) -> str:
        """Store an uploaded tar or tar.gz archive; return its reference ``code://<sha256>``.

        The archive must be readable and pass the same member rules as
        :func:`launchq.build.tarball.safe_extract`. Raises InvalidInput(field="code")
        otherwise or above :data:`MAX_UPLOAD_BYTES`; BackendUnavailable.
        """
        if len(data) > MAX_UPLOAD_BYTES:
            raise InvalidInput(f"the archive is larger than {MAX_UPLOAD_BYTES} bytes", field="code")
        if not data:
            raise InvalidInput("the archive is empty", field="code")
        check_archive(io.BytesIO(data), field="code")
        digest = hashlib.sha256(data).hexdigest()
        self._write(digest, data)
        return f"{CODE_SCHEME}{digest}"

    def digest(self, ref: str) -> str:
        """The sha256 hex a reference names. Raises InvalidInput(field="uri") if malformed."""
        match = _REF.match(ref)
        if match is None:
            raise InvalidInput(
                f"{ref[:80]!r} is not a code reference (code:// followed by 64 lowercase hex digits)",
                field="uri",
            )
        return match.group("digest")

    def fetch(self, ref: str, dest: Path) -> Path:
        """Write the archive ``ref`` names into the directory ``dest``; return the file's path.

        Raises InvalidInput (malformed ref), NotFound (nothing stored under it),
        LaunchFailed (the stored bytes do not match their digest), BackendUnavailable.
        """
        digest = self.digest(ref)
        dest.mkdir(parents=True, exist_ok=True)
        path = dest / f"code-{digest}"
        try:
            self._read_into(digest, path)
            actual = _sha256_of_file(path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if actual != digest:
            path.unlink(missing_ok=True)
            raise LaunchFailed(f"stored code {ref} is corrupt (its content hashes to {actual})")
        return path

    @abstractmethod
    def _write(self, digest: str, data: bytes) -> None:
        """Keep ``data`` under ``digest`` (idempotent). Raises BackendUnavailable."""

    @abstractmethod
    def _read_into(self, digest: str, path: Path) -> None:
        """Write the bytes stored under ``digest`` to ``path``. Raises NotFound, BackendUnavailable."""


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
            # Write then rename, so a reader never sees half an archive.
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
                for chunk in iter(lambda: reader.read(_CHUNK), b""):
                    writer.write(chunk)
        except FileNotFoundError:
            raise NotFound(f"no uploaded code {CODE_SCHEME}{digest}", field="uri") from None
        except OSError as exc:
            raise BackendUnavailable(f"cannot read code from {self.directory}: {exc}") from None
