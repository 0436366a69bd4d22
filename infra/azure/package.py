"""Stage the Function App: ``python infra/azure/package.py [DEST]`` (default build/azure-functions).

A Python Function App is a directory with ``function_app.py``, ``host.json`` and
``requirements.txt`` at its root. This copies ``functions/azure/function_app.py`` and
``host.json``, the ``launchq`` package (no caches, no tests) and ``infra/azure/requirements.in``
as ``requirements.txt``; ``func azure functionapp publish <app>`` run in DEST (or a zip of it
deployed with ``az functionapp deployment source config-zip``) builds it remotely.
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
    for name in ["function_app.py", "host.json"]:
        shutil.copy2(REPO / "functions" / "azure" / name, dest / name)
    shutil.copytree(
        REPO / "shared" / "launchq", dest / "launchq", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    shutil.copy2(REPO / "infra" / "azure" / "requirements.in", dest / "requirements.txt")
    (dest / ".funcignore").write_text("__pycache__/\n*.pyc\n")
    return dest


if __name__ == "__main__":
    print(stage(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "build" / "azure-functions"))
