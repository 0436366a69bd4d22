"""``launchq agent``: the long-running dispatcher alone, for users who want W&B's agent shape.

It dispatches the named queues from the same local store as ``launchq serve`` (claims
are atomic across processes), with the agent-wide ``max_jobs`` of ``launch-config.yaml``
or ``-j``; the flag wins over the file, as with ``wandb launch-agent``.

Given a control plane (``--url``), it pulls the runs of those queues from it over HTTP
instead (``launchq.remote``): everything else (queues, ``-j``, launch-config, builders,
targets) is the same.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.domain.launch_config import load_launch_config
from launchq.errors import InvalidInput
from launchq.local.loops import Loops
from launchq.local.settings import load_local_settings
from launchq.local.wiring import build_local

if TYPE_CHECKING:
    from launchq.remote.wiring import ControlPlane


def run_agent(
    queues: list[str],
    max_jobs: int | None = None,
    config_path: Path | None = None,
    data_dir: Path | None = None,
    control_plane: ControlPlane | None = None,
) -> None:
    config, _ = load_launch_config(config_path)
    names = list(dict.fromkeys([*queues, *config.queues]))
    if not names:
        raise InvalidInput(
            "name at least one queue with -q or `queues:` in launch-config.yaml", field="queues"
        )
    overrides: dict[str, Any] = {"data_dir": data_dir} if data_dir else {}
    settings = load_local_settings(**overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    doorbell = InProcessDoorbell()
    remote = None
    if control_plane is None:
        services = build_local(settings, doorbell, config)
        for name in names:
            services.queues.get(name)  # NotFound now, not silence later
    else:
        from launchq.remote.wiring import RemoteAgent, remote_settings

        logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
        settings = remote_settings(settings)
        remote = RemoteAgent(settings, doorbell, config, control_plane, names)  # checks the queues
        services = remote.services
    loops = Loops(
        services, doorbell, settings.poll_interval, queues=names, max_jobs=max_jobs or config.max_jobs
    )

    def _stop(signum: int, frame: FrameType | None) -> None:
        loops.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    loops.start()
    if remote is not None:
        remote.start()
    logging.getLogger(__name__).info("launchq agent watching %s", ", ".join(names))
    loops.wait()
    if remote is not None:
        remote.stop()
