"""``launchq serve``: the HTTP API, the dispatcher and the reconciler in one local process."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import uvicorn

from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.api.app import local_app
from launchq.domain.launch_config import LaunchConfig, load_launch_config
from launchq.local.loops import Loops
from launchq.local.settings import LocalSettings
from launchq.local.wiring import build_local, ensure_default_queue

log = logging.getLogger(__name__)


def serve(
    host: str | None = None,
    port: int | None = None,
    data_dir: Path | None = None,
    config_path: Path | None = None,
) -> None:
    """Serve the API with a dispatcher and reconciler. ``config_path`` is an explicit
    launch-config.yaml (builder, registry, environment); unlike ``launchq agent``, the server
    does not pick one up from ~/.config on its own, so `make run` never depends on it.
    Raises InvalidInput for a bad launch-config (the CLI prints it and exits 2)."""
    config = load_launch_config(config_path)[0] if config_path is not None else LaunchConfig()
    overrides: dict[str, Any] = {
        k: v for k, v in {"host": host, "port": port, "data_dir": data_dir}.items() if v is not None
    }
    settings = LocalSettings(**overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    doorbell = InProcessDoorbell()
    services = build_local(settings, doorbell, config)
    ensure_default_queue(services, settings.default_queue)
    loops = Loops(services, doorbell, settings.poll_interval)
    loops.start()
    log.info("launchq serving on http://%s:%d (data in %s)", settings.host, settings.port, settings.data_dir)
    try:
        uvicorn.run(local_app(services), host=settings.host, port=settings.port, log_level="warning")
    finally:
        loops.stop()
