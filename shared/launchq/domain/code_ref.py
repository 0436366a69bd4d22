"""References to uploaded code: a run's ``uri`` may be ``code://<sha256>`` (``POST /code``).

A reference is the sha256 of the uploaded archive, so the same archive always has the same
name; the ``CodeStore`` port (``launchq.ports``) stores and checks the bytes behind it.
"""

from __future__ import annotations

import re

from launchq.errors import InvalidInput

CODE_SCHEME = "code://"
MAX_UPLOAD_BYTES = 512 * 1024**2
"""Largest archive ``CodeStore.put`` accepts: 512 MiB (compressed size, as uploaded)."""

_CODE_REF = re.compile(r"^code://(?P<digest>[0-9a-f]{64})$")


def is_code_ref(uri: str) -> bool:
    """Whether ``uri`` is meant as an uploaded-code reference (well-formed or not)."""
    return uri.startswith(CODE_SCHEME)


def code_digest(ref: str) -> str:
    """The sha256 hex a reference names. Raises InvalidInput(field="uri") if malformed."""
    match = _CODE_REF.match(ref)
    if match is None:
        raise InvalidInput(
            f"{ref[:80]!r} is not a code reference (code:// followed by 64 lowercase hex digits)",
            field="uri",
        )
    return match.group("digest")
