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
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.domain.launch_config import load_launch_config
from launchq.errors import InvalidInput, NotFound
from launchq.local.loops import Loops
from launchq.local.settings import load_local_settings
from launchq.local.wiring import build_local

if TYPE_CHECKING:
    from launchq.bootstrap import Services
    from launchq.remote.wiring import ControlPlane

log = logging.getLogger(__name__)


def run_agent(
    queues: list[str],
    max_jobs: int | None = None,
    config_path: Path | None = None,
    data_dir: Path | None = None,
    control_plane: ControlPlane | None = None,
    entity: str | None = None,
    log_file: str | None = None,
    verbose: int = 0,
) -> None:
    """Serve ``queues`` until SIGTERM/SIGINT. ``entity`` (``-e``) must own every queue; the log
    goes to ``log_file`` (``-``: stdout; None: stderr), at debug level when ``verbose``.

    Raises InvalidInput, NotFound (a queue), BackendUnavailable.
    """
    config, _ = load_launch_config(config_path)
    names = list(dict.fromkeys([*queues, *config.queues]))
    if not names:
        raise InvalidInput(
            "name at least one queue with -q or `queues:` in launch-config.yaml", field="queues"
        )
    overrides: dict[str, Any] = {"data_dir": data_dir} if data_dir else {}
    settings = load_local_settings(**overrides)
    _configure_logging(log_file, verbose)
    doorbell = InProcessDoorbell()
    remote = None
    if control_plane is None:
        settings.require_store()  # before build_local, which would leave an empty database
        services = build_local(settings, doorbell, config)
        for name in names:
            try:
                services.queues.get(name)  # NotFound now, not silence later
            except NotFound:
                raise settings.missing_queue(name) from None
    else:
        from launchq.remote.wiring import RemoteAgent, remote_settings

        if verbose < 2:
            logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
        settings = remote_settings(settings)
        remote = RemoteAgent(settings, doorbell, config, control_plane, names)  # checks the queues
        services = remote.services
    _check_entity(services, names, entity)
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


def _configure_logging(log_file: str | None, verbose: int) -> None:
    """W&B's ``-l``/``-v``: ``-v`` shows launchq's debug lines, ``-vv`` every library's too."""
    target: dict[str, Any] = {}
    if log_file == "-":
        target["stream"] = sys.stdout
    elif log_file is not None:
        target["filename"] = str(Path(log_file).expanduser())
    level = logging.DEBUG if verbose >= 2 else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", **target)
    if verbose:
        logging.getLogger("launchq").setLevel(logging.DEBUG)


def _check_entity(services: Services, names: list[str], entity: str | None) -> None:
    """``-e``: a queue of another entity is refused at start, not served under the wrong name.
    Raises InvalidInput(field="entity")."""
    if entity is None and not log.isEnabledFor(logging.DEBUG):
        return  # nothing to check or show: no extra request to a remote control plane
    for name in names:
        queue = services.queues.get(name)
        log.debug(
            "queue %s: resource %s, entity %s, max_jobs %s",
            name,
            queue.resource,
            queue.entity,
            queue.max_jobs,
        )
        if entity is not None and queue.entity != entity:
            raise InvalidInput(
                f"queue {name!r} belongs to entity {queue.entity!r}, not {entity!r}", field="entity"
            )
