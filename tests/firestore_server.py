"""The Firestore emulator the store tests run against (npm ``@firestore-emulator/server``).

Google's own emulator ships with the gcloud CLI (a Java download), which this machine
cannot fetch; the npm emulator speaks the same gRPC API to ``google-cloud-firestore``.
It runs in memory, so a fresh server per session and a fresh project per test keep tests
apart. Installed by ``make setup`` (tests/localstack); missing means a broken set-up, so
this raises rather than skipping.

What it does not do (checked in its source, 0.3.15): a transaction neither isolates nor
rolls back (a commit applies its writes one by one, each checking its own ``exists``
precondition), ``update_time`` preconditions are refused, and ``list_documents`` /
``collections`` are not served. The Firestore store is written to be correct on it anyway
(see ``launchq.adapters.stores.firestore``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock
from uuid import uuid4

from tests.servers import LOCALSTACK, _server, free_port

if TYPE_CHECKING:
    from launchq.adapters.stores.firestore import FirestoreRunStore

__all__ = ["firestore_emulator", "firestore_store"]

# A 4-line launcher: the package exports the server class; start(port) listens on 0.0.0.0.
LAUNCHER = """
const { FirestoreServer } = require(process.argv[1]);
const server = new FirestoreServer();
server.start(Number(process.argv[2]));
"""


@contextmanager
def firestore_emulator(workdir: Path) -> Iterator[str]:
    """Start the emulator on a free port; yields its ``host:port`` (``FIRESTORE_EMULATOR_HOST``)."""
    package = LOCALSTACK / "node_modules" / "@firestore-emulator" / "server"
    if not (package / "package.json").is_file():
        raise RuntimeError(f"the Firestore emulator is not installed under {LOCALSTACK}; run `make setup`")
    port = free_port()
    argv = ["node", "-e", LAUNCHER, str(package), str(port)]
    with _server(argv, port, workdir / f"firestore-{port}.log"):
        yield f"127.0.0.1:{port}"


def firestore_store(host: str, prefix: str | None = None) -> FirestoreRunStore:
    """A store on the emulator at ``host`` under ``prefix`` (default: fresh, so tests share
    nothing). The client reads ``FIRESTORE_EMULATOR_HOST`` when it is built, so the variable
    is set only for that moment: nothing else in the test process is pointed at it."""
    from google.cloud import firestore

    from launchq.adapters.stores.firestore import FirestoreRunStore

    with mock.patch.dict(os.environ, {"FIRESTORE_EMULATOR_HOST": host}):
        client = firestore.Client(project="launchq-test")
    return FirestoreRunStore(client, prefix or f"t{uuid4().hex[:12]}")
