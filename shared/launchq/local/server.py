"""``launchq serve``: the HTTP API, the dispatcher and the reconciler in one local process.

The server is uvicorn (h11) in front of ``launchq.local.asgi``, which hands each request
to Lambda's own resolver in one worker thread (why: see that module). The limits below keep
one busy or hostile client from costing the others: connections are capped (past the cap
uvicorn answers 503), idle keep-alive connections are closed, request heads are bounded
by h11, and Ctrl-C / SIGTERM waits only briefly for requests in flight. Running jobs are
not touched on shutdown: the next start re-adopts them.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.api.app import local_app
from launchq.api.auth import AuthMode
from launchq.bootstrap import Services
from launchq.build.allowed_dirs import allow_only, bound_for
from launchq.cli.auth import is_loopback
from launchq.domain.launch_config import LaunchConfig, load_launch_config
from launchq.errors import InvalidInput
from launchq.local.asgi import BODY_TIMEOUT_SECONDS, LocalAsgiApp, ResolverPool
from launchq.local.loops import Loops
from launchq.local.settings import LocalSettings, load_local_settings
from launchq.local.wiring import build_local, ensure_default_queue

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 1000
"""Open connections (and requests in progress) past which uvicorn answers 503."""
KEEP_ALIVE_SECONDS = 5
"""An idle keep-alive connection is closed after this long."""
GRACEFUL_SHUTDOWN_SECONDS = 3
"""On Ctrl-C / SIGTERM, requests in flight get this long to finish before they are cancelled."""
MAX_REQUEST_HEAD_BYTES = 64 * 1024
"""The largest request line plus headers h11 buffers before it refuses the request."""


def server_config(
    services: Services,
    host: str,
    port: int,
    body_timeout: float = BODY_TIMEOUT_SECONDS,
    auth: AuthMode = AuthMode.NONE,
) -> uvicorn.Config:
    """uvicorn's settings for the local API (also used by tests that serve in-process)."""
    app = LocalAsgiApp(ResolverPool(lambda: local_app(services, auth)), body_timeout=body_timeout)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http="h11",
        ws="none",
        lifespan="on",
        log_level="warning",
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
    )


class _Stopped(Exception):
    """Ctrl-C or SIGTERM, raised once uvicorn has shut down gracefully and passes the signal on."""


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stopped(signal.Signals(signum).name)


class _Server(uvicorn.Server):
    """uvicorn's server, which also runs ``on_exit`` when told to stop (Ctrl-C, SIGTERM),
    before its graceful shutdown waits for the requests in progress."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)


def _run(server: uvicorn.Server) -> None:
    """Run uvicorn until Ctrl-C / SIGTERM, then return normally.

    uvicorn handles the signal itself (graceful shutdown), then re-raises it under the
    handlers it found. Those are ours, so the signal ends here: the caller stops the
    loops and the process exits 0 instead of being killed by SIGTERM half-way."""
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    except _Stopped as stopped:
        log.info("launchq stopped by %s", stopped)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def refuse_open_network(settings: LocalSettings) -> None:
    """A server reachable from other machines must check API keys: anyone who can reach an
    open one can run any command as this user (a local-process run is a shell). Loopback
    (127.0.0.0/8, ::1, localhost) stays open, as before. Raises InvalidInput naming ``--host``."""
    if not settings.auth_required and not is_loopback(settings.host):
        raise InvalidInput(
            f"refusing to serve on {settings.host} without auth: anyone who can reach it could run "
            "commands as this user; add --auth keys (LAUNCHQ_AUTH=keys) or serve on 127.0.0.1",
            field="--host",
        )


def serve(
    host: str | None = None,
    port: int | None = None,
    data_dir: Path | None = None,
    config_path: Path | None = None,
    no_dispatch: bool | None = None,
    allow_dirs: list[Path] | None = None,
    auth: str | None = None,
) -> None:
    """Serve the API with a dispatcher and reconciler; with ``no_dispatch`` (or
    ``LAUNCHQ_NO_DISPATCH=1``) the API alone, for agents to do the work: no queue is
    dispatched and no job followed, but expired claims still go back in line and schedules
    still fire (see ``Loops``). ``config_path`` is an explicit
    launch-config.yaml (builder, registry, environment); unlike ``launchq agent``, the server
    does not pick one up from ~/.config on its own, so `make run` never depends on it.
    Raises InvalidInput for a bad launch-config, or for a host other than this machine without
    ``auth="keys"`` (the CLI prints it and exits 2)."""
    config = load_launch_config(config_path)[0] if config_path is not None else LaunchConfig()
    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "data_dir": data_dir,
            "no_dispatch": no_dispatch,
            "auth": auth,
        }.items()
        if v is not None
    }
    if allow_dirs:
        overrides["allow_dirs"] = allow_dirs
    settings = load_local_settings(**overrides)
    refuse_open_network(settings)
    auth_required = bool(getattr(settings, "auth_required", False))
    allow_only(bound_for(settings.allow_dirs, auth_required=auth_required, data_dir=settings.data_dir))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    doorbell = InProcessDoorbell()
    services = build_local(settings, doorbell, config)
    ensure_default_queue(services, settings.default_queue)
    if settings.auth_required and not services.ctx.store.list_api_keys():
        log.warning(
            "auth is on and no API key exists yet: make the first admin key with "
            "`launchq keys create --entity %s --role admin --data-dir %s`",
            settings.entity,
            settings.data_dir,
        )
    # The file's max_jobs, when it sets one, caps the server's dispatcher as it caps W&B's agent.
    cap = config.max_jobs if "max_jobs" in config.model_fields_set else None
    services.ctx.dispatch_cap = None if cap == -1 else cap  # the API's waiting reason names it
    dispatch = not settings.no_dispatch
    mode = "dispatching runs" if dispatch else "dispatch off (agents launch runs; claims still expire)"
    loops = Loops(services, doorbell, settings.poll_interval, max_jobs=cap, dispatch=dispatch)
    loops.start()
    log.info(
        "launchq serving on http://%s:%d (data in %s; %s; %s)",
        settings.host,
        settings.port,
        settings.data_dir,
        mode,
        "API keys required" if settings.auth_required else "no auth: loopback only",
    )
    try:
        # agents' long polls answer at once, so the graceful shutdown is not spent waiting on them
        api_auth = AuthMode.KEYS if settings.auth_required else AuthMode.NONE
        uv_config = server_config(services, settings.host, settings.port, auth=api_auth)
        _run(_Server(uv_config, doorbell.release_listeners))
    finally:
        loops.stop()
