"""One dispatcher process of the fault-injection test: launchq's local loops (dispatcher,
exit settler, reconciler; ``launchq.local.loops``) against a shared store (a SQLite file or a
DynamoDB Local table) and the ``JournalTarget``, until it is killed.

``python -m tests.fault_dispatcher '<json>'`` with ``{"root": DIR, "store": {"kind":
"sqlite", "path": FILE} | {"kind": "dynamodb", "url": URL, "table": NAME}, "lease": S,
"poll": S, "seed": N, "doorbell": null | {"drop": p, "dup": p, "reorder": p}}``.
``wire`` builds the same services for the harness (to create queues and enqueue).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

from launchq.adapters.builders.noop import NoopBuilder
from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
from launchq.bootstrap import Services, build_services
from launchq.local.loops import Loops
from launchq.ports import RunStore
from launchq.service.context import Context, ServiceSettings
from launchq.service.targets import TargetCatalog
from tests.fault_target import FaultyDoorbell, JournalTarget


def open_store(spec: dict[str, Any]) -> RunStore:
    if spec["kind"] == "sqlite":
        from launchq.adapters.stores.sqlite import SqliteRunStore

        return SqliteRunStore(Path(spec["path"]))
    from launchq.adapters.stores.dynamodb import DynamoRunStore
    from tests.contract.conftest import dynamodb_client

    return DynamoRunStore(spec["table"], dynamodb_client(spec["url"]))


def wire(config: dict[str, Any], doorbell: InProcessDoorbell | None = None) -> Services:
    store = open_store(config["store"])
    target = JournalTarget(Path(config["root"]), store)
    ctx = Context(
        store=store,
        doorbell=doorbell or InProcessDoorbell(),
        targets=TargetCatalog({target.resource: target}),
        builder=NoopBuilder(),
        trigger=ReconcilerOnlyTrigger(),
        settings=ServiceSettings(lease_seconds=config["lease"], start_timeout_seconds=600),
    )
    return build_services(ctx)


def main(argv: list[str]) -> None:
    config = json.loads(argv[1])
    faults = config.get("doorbell")
    doorbell = FaultyDoorbell(config["seed"], **faults) if faults else InProcessDoorbell()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(process)d %(name)s %(message)s")
    services = wire(config, doorbell)
    loops = Loops(services, doorbell, poll_interval=config["poll"])
    loops.start()
    print("ready", flush=True)
    threading.Event().wait()  # until SIGKILL (or SIGTERM at the end)


if __name__ == "__main__":
    main(sys.argv)
