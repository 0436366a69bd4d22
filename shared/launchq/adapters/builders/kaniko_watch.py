"""Kaniko builds reported as they end: one watch on the builder's Jobs (``Builder.watch``).

While someone listens (the local loops), the first build started opens one watch on the
build namespace's Jobs labelled ``launchq.io/build``; a Job whose ``Complete`` or ``Failed``
condition turns true is reported as ``(run id, "<namespace>/<job>", ready|failed)``. The
notice is a hint: the service resumes the run from ``status``, which reads the Job again,
so a notice twice (a watch re-opened) or lost (the API server went away; polling covers
the gap) changes nothing. The thread ends at its next watch timeout once nobody listens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from launchq.adapters.builders.kaniko_job import BUILD_LABEL
from launchq.adapters.targets.kubernetes_client import ClusterClient
from launchq.adapters.targets.kubernetes_spec import RUN_ID_LABEL
from launchq.errors import LaunchqError
from launchq.ports import BuildNotice

__all__ = ["BuildWatch", "ended_condition"]

WATCH_SECONDS = 300


def ended_condition(job: dict[str, Any]) -> dict[str, Any] | None:
    """The Job's final condition (``Complete`` or ``Failed``, status True), if it has ended."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return dict(condition)
    return None


class BuildWatch:
    """The one watch thread of a Kaniko builder, running while ``notify`` is set."""

    def __init__(
        self, client: Callable[[], ClusterClient], namespace: Callable[[], str], seconds: int = WATCH_SECONDS
    ) -> None:
        self._client, self._namespace, self._seconds = client, namespace, seconds
        self._lock = threading.Lock()
        self._notify: BuildNotice | None = None
        self._thread: threading.Thread | None = None

    def listen(self, notify: BuildNotice | None) -> None:
        with self._lock:
            self._notify = notify

    def follow(self) -> None:
        """Open the watch (once) if someone listens; called when a build starts."""
        with self._lock:
            if self._notify is None or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._loop, name="kaniko-watch", daemon=True)
            self._thread.start()

    def _listener(self) -> BuildNotice | None:
        with self._lock:
            return self._notify

    def _loop(self) -> None:
        while (notify := self._listener()) is not None:
            try:
                namespace = self._namespace()
                jobs = self._client().watch("batch/v1", "Job", namespace, BUILD_LABEL, self._seconds)
                for change, job in jobs:
                    self._report(change, job, namespace, notify)
            except LaunchqError:
                time.sleep(1.0)  # the API server went away: watch again (the reconciler polls meanwhile)

    @staticmethod
    def _report(change: str, job: dict[str, Any], namespace: str, notify: BuildNotice) -> None:
        ended = ended_condition(job) if change != "DELETED" else None
        meta = job.get("metadata") or {}
        run_id = (meta.get("labels") or {}).get(RUN_ID_LABEL)
        if ended is not None and run_id:
            notify(
                str(run_id),
                f"{namespace}/{meta.get('name')}",
                "ready" if ended["type"] == "Complete" else "failed",
            )
