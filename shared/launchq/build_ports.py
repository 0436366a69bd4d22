"""The image side's ports (re-exported by ``launchq.ports``): ``Builder`` turns a run's source
into an image, ``Registry`` holds the images. Adapters live in ``launchq.adapters.builders``
and ``launchq.adapters.registries``; like every port, they raise only ``launchq.errors``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from launchq.domain.models import Run
from launchq.port_values import BuildNotice, BuildPlan, BuildResult, RegistryCredentials

__all__ = ["Builder", "Registry"]


class Builder(ABC):
    """Turns a run's source into an image the target can pull."""

    type: ClassVar[str]
    # The platform builds default to (launch-config.yaml ``builder.platform``); None: linux/amd64.
    # A queue's or run's ``builder.platform`` wins (``BuildOptions.with_default_platform``).
    platform: str | None = None

    @abstractmethod
    def check(self, run: Run) -> None:
        """Refuse at enqueue a source this builder cannot handle. Raises InvalidInput naming the field."""

    @abstractmethod
    def start(self, run: Run, plan: BuildPlan) -> BuildResult:
        """Build and push ``plan`` (synchronous builders return ``ready`` or ``failed``;
        asynchronous ones return ``building`` with a ``build_id``). A build that fails is a
        ``failed`` result with the log's tail, not an exception. Raises InvalidInput or
        LaunchFailed when ``plan`` cannot be built at all (the run is dead-lettered with the
        reason), BackendUnavailable."""

    @abstractmethod
    def status(self, run: Run, build_id: str) -> BuildResult:
        """An asynchronous build's state (``failed`` if the backend does not know it).

        Raises BackendUnavailable."""

    @abstractmethod
    def logs(self, run: Run, build_id: str, offset: int = 0) -> tuple[str, int]:
        """The build's log from ``offset`` on, and the next offset (no log: ``("", offset)``).

        Raises InvalidInput for a negative offset or a malformed build id, BackendUnavailable.
        """

    def live_log_id(self, run: Run) -> str | None:
        """Optional, for synchronous builders: the build id under which ``logs`` reads the
        build of ``run`` while it is still running here, before the run records any id (so
        ``runs logs -f`` shows its steps as they happen). None (the default): no such log.
        Never used to follow or settle a build: only a recorded ``build_id`` is."""
        return None

    def watch(self, notify: BuildNotice | None) -> None:  # noqa: B027 - optional hook
        """Optional, for asynchronous builders: call ``notify(run_id, build_id, state)`` (from
        any thread, promptly) when a build this process started has ended, so its run moves on
        at once rather than on the reconciler's next poll; ``None`` ends the notifications. The
        notice is a hint: the run is resumed from ``status`` as the reconciler would. The
        default pushes nothing (CodeBuild's ends arrive as EventBridge events instead)."""


class Registry(ABC):
    """Where built images are pushed and looked up."""

    type: ClassVar[str]

    @abstractmethod
    def image_uri(self, tag: str) -> str:
        """The full URI of ``tag`` in this registry (no backend is asked).

        Raises InvalidInput (field ``tag``) for a tag the registry could not hold."""

    @abstractmethod
    def exists(self, tag: str) -> bool:
        """Whether ``tag`` is already present. Raises BackendUnavailable."""

    @abstractmethod
    def credentials(self) -> RegistryCredentials | None:
        """Short-lived push credentials (None: the builder's own login or an open registry).

        Raises BackendUnavailable."""
