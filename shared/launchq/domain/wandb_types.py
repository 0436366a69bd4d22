"""Value types spelled the way W&B's own files and API accept them.

W&B's agent reads its integer keys with ``int()``, so ``max_jobs: "5"`` in a copied
config means 5; a boolean is not a number there (``max_jobs: true`` is refused, not
stored as 1 the way pydantic's lax mode would).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, StrictInt

_INTEGER_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")


def _integer_text(value: Any) -> Any:
    """``"5"`` is 5, as W&B's agent reads its integer keys with ``int()``; ``true`` stays refused."""
    if isinstance(value, str) and _INTEGER_TEXT.match(value):
        return int(value)
    return value


WandbInt = Annotated[StrictInt, BeforeValidator(_integer_text)]
"""An integer key of W&B's files and API: an int, or the same number written as a string."""
