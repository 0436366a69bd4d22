"""Code uploads (``POST /code``): a tarball of a source tree becomes a ``code://`` reference
usable as a run's ``uri`` (W&B's code artifacts, without W&B)."""

from __future__ import annotations

from launchq.errors import InvalidInput
from launchq.service.context import Context


class CodeService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def upload(self, data: bytes) -> str:
        """Store a tar(.gz) of a source tree; returns ``code://<sha256>``. Raises InvalidInput."""
        if self.ctx.code_store is None:
            raise InvalidInput("this deployment has no code store; use a git uri instead", field="data")
        return self.ctx.code_store.put(data)
