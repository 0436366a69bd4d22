"""Stage the Cloud Functions' source: ``python infra/gcp/package.py [DEST]`` (default build/gcp-functions).

Cloud Functions build a function from a directory with ``main.py`` and ``requirements.txt`` at
its root. This copies ``functions/gcp/main.py``, the ``launchq`` package (no caches, no tests)
and ``infra/gcp/requirements.in`` as ``requirements.txt``; ``terraform apply`` zips the result.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def stage(dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copy2(REPO / "functions" / "gcp" / "main.py", dest / "main.py")
    shutil.copytree(
        REPO / "shared" / "launchq", dest / "launchq", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    shutil.copy2(REPO / "infra" / "gcp" / "requirements.in", dest / "requirements.txt")
    return dest


if __name__ == "__main__":
    print(stage(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "build" / "gcp-functions"))
