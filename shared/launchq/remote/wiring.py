"""An agent's services when it pulls from a control plane (``launchq agent --url``).

The same adapters as local mode (``build_local``: local-process, Kubernetes and cloud
targets, the builder and registry of ``launch-config.yaml``), with the store replaced by
``RemoteRunStore``. The agent keeps its own data directory for workspaces, job logs, builds
and the host id its local jobs carry (``Target.sees``): an agent restarted on the same
directory re-adopts the jobs it started.

Remote defaults, where ``LAUNCHQ_*`` does not say otherwise: a 120 s lease (renewed every
40 s, see ``launchq.remote.threads``) and a 5 s reconciler tick; the waiter and the agent's
own job-exit notices wake it sooner, so the tick is only the safety net, and a slower one
spares a serverless control plane a request storm from idle agents.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

import httpx

from launchq.adapters.doorbells.inprocess import InProcessDoorbell
from launchq.bootstrap import Services
from launchq.domain.launch_config import LaunchConfig
from launchq.errors import InvalidInput
from launchq.local.settings import LocalSettings
from launchq.local.wiring import build_local
from launchq.remote.client import AgentClient
from launchq.remote.store import MAX_LEASE_SECONDS, MIN_LEASE_SECONDS, RemoteRunStore
from launchq.remote.threads import SHIP_EVERY_SECONDS, Heartbeat, LogShipper, Waiter, every, paced

log = logging.getLogger(__name__)

REMOTE_LEASE_SECONDS = 120.0
REMOTE_POLL_SECONDS = 5.0


@dataclass(frozen=True)
class ControlPlane:
    """Where an agent pulls from, and how it authenticates (None: unsigned, no key)."""

    url: str
    auth: httpx.Auth | None = None
    agent_id: str | None = None


def remote_settings(settings: LocalSettings) -> LocalSettings:
    """``settings`` with the remote defaults where the environment set nothing.

    Raises InvalidInput naming ``LAUNCHQ_LEASE_SECONDS`` for a lease the agent routes refuse.
    """
    defaults = {"lease_seconds": REMOTE_LEASE_SECONDS, "poll_interval": REMOTE_POLL_SECONDS}
    chosen = settings.model_copy(
        update={key: value for key, value in defaults.items() if key not in settings.model_fields_set}
    )
    if not MIN_LEASE_SECONDS <= chosen.lease_seconds <= MAX_LEASE_SECONDS:
        raise InvalidInput(
            f"an agent's claim lease must be {MIN_LEASE_SECONDS} to {MAX_LEASE_SECONDS} seconds",
            field="LAUNCHQ_LEASE_SECONDS",
        )
    return chosen


def check_queues(store: RemoteRunStore) -> None:
    """Refuse at start what would fail on every claim: an unknown queue, or one the control
    plane dispatches itself. Raises NotFound, InvalidInput, BackendUnavailable."""
    for name in store.queues:
        queue = store.get_queue(name)
        if queue.dispatch != "agents":
            raise InvalidInput(
                f"queue {name!r} is dispatched by the control plane itself (dispatch: {queue.dispatch}); "
                "agents serve only queues created with dispatch: agents",
                field="queue",
            )


class RemoteAgent:
    """An agent's services over a control plane, and the threads that keep it in touch."""

    def __init__(
        self,
        settings: LocalSettings,
        doorbell: InProcessDoorbell,
        config: LaunchConfig,
        control_plane: ControlPlane,
        queues: list[str],
    ) -> None:
        """Raises InvalidInput (a bad URL, agent id or queue), NotFound, BackendUnavailable."""
        self.client = AgentClient(control_plane.url, agent=control_plane.agent_id, auth=control_plane.auth)
        self.store = RemoteRunStore(self.client, queues)
        check_queues(self.store)
        self.services: Services = build_local(settings, doorbell, config, store=self.store)
        self.waiter = Waiter(self.client, self.store.queues, doorbell)
        self.heartbeat = Heartbeat(self.store, timedelta(seconds=settings.lease_seconds))
        self.shipper = LogShipper(self.client, self.store, self.services.ctx.targets)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._threads = [
            paced(self._stop, self.waiter.step, "waiter"),
            every(self.heartbeat.interval, self._stop, self.heartbeat.beat, "heartbeat"),
            every(SHIP_EVERY_SECONDS, self._stop, self.shipper.ship_all, "log-shipper"),
        ]
        log.info(
            "pulling from %s as agent %s (lease %gs, renewed every %gs)",
            self.client.base_url,
            self.client.agent,
            self.heartbeat.lease.total_seconds(),
            self.heartbeat.interval,
        )

    def stop(self) -> None:
        """Stop the threads and ship the logs once more. A long poll in flight is abandoned
        (its daemon thread ends with the process), so stopping never waits 20 s for it."""
        self._stop.set()
        for thread in self._threads[1:]:
            thread.join(timeout=10)
        self.shipper.ship_all()
