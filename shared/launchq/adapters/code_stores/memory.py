"""Uploaded code archives in a dict: the ``CodeStore`` stub shipped in the package.

The port (``launchq.ports.CodeStore``) checks and names an upload; this backend keeps the
bytes in ``objects`` by digest. It passes the CodeStore contract suite beside the local
directory and S3 stores (``tests/contract/test_code_store_contract.py``), so service tests
can upload and fetch code with no disk or bucket. ``unavailable`` makes every write and
read fail as an unreachable backend does.
"""

from __future__ import annotations

from pathlib import Path

from launchq.domain.code_ref import CODE_SCHEME
from launchq.errors import BackendUnavailable, NotFound
from launchq.ports import CodeStore

__all__ = ["MemoryCodeStore"]


class MemoryCodeStore(CodeStore):
    """Archives as ``objects[<sha256>]``; ``writes`` counts the bytes actually stored."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.writes = 0
        self.unavailable: str | None = None  # set: every write and read raises BackendUnavailable

    def _write(self, digest: str, data: bytes) -> None:
        self._check_reachable()
        if digest not in self.objects:
            self.objects[digest] = data
            self.writes += 1

    def _read_into(self, digest: str, path: Path) -> None:
        self._check_reachable()
        data = self.objects.get(digest)
        if data is None:
            raise NotFound(f"no uploaded code {CODE_SCHEME}{digest}", field="uri")
        path.write_bytes(data)

    def _check_reachable(self) -> None:
        if self.unavailable is not None:
            raise BackendUnavailable(f"code store unreachable: {self.unavailable}")
