"""The ``CodeStore`` port (re-exported by ``launchq.ports``): uploaded code archives.

Every backend must check and name an upload the same way, so the port does that work in
public methods and each backend fills two protected hooks, as Powertools' idempotency
persistence layers do.
"""

from __future__ import annotations

import hashlib
import io
from abc import ABC, abstractmethod
from pathlib import Path

from launchq.build.tarball import check_archive
from launchq.domain.code_ref import CODE_SCHEME, MAX_UPLOAD_BYTES, code_digest
from launchq.errors import InvalidInput, LaunchFailed


class CodeStore(ABC):
    """Uploaded code archives (``POST /code``), stored by content and named ``code://<sha256>``.

    A reference is the sha256 of the uploaded bytes, so uploading the same archive twice
    gives the same reference and a stored archive is checked on the way out. The shared
    work (validation, naming, integrity) is done here; a backend fills ``_write`` and
    ``_read_into`` (``launchq.adapters.code_stores``: a local directory, an S3 bucket).
    """

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
        return code_digest(ref)

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
            with path.open("rb") as stream:
                actual = hashlib.file_digest(stream, "sha256").hexdigest()
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if actual != digest:
            path.unlink(missing_ok=True)
            raise LaunchFailed(f"stored code {ref} is corrupt (its content hashes to {actual})")
        return path

    @abstractmethod
    def _write(self, digest: str, data: bytes) -> None:
        """Keep ``data`` under ``digest``; idempotent, since a digest always carries the same
        bytes. Raises BackendUnavailable."""

    @abstractmethod
    def _read_into(self, digest: str, path: Path) -> None:
        """Write the bytes stored under ``digest`` to the file ``path``.

        Raises NotFound (field ``uri``) when nothing is stored under it, BackendUnavailable.
        """
