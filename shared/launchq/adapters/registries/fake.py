"""An in-memory registry: the ``Registry`` stub shipped in the package.

It holds a set of tags and nothing else, and passes the same contract suite as the OCI,
ECR, Artifact Registry and ACR adapters (``tests/contract/test_registry_contract.py``).
With ``FakeBuilder`` it lets the build state machine (planned, building, pushed, reused)
be tested without buildah or a registry server: ``push`` puts a tag in, ``unavailable``
makes every call fail as an unreachable registry does.
"""

from __future__ import annotations

from typing import ClassVar

from launchq.adapters.registries.uri import tagged
from launchq.errors import BackendUnavailable
from launchq.ports import Registry, RegistryCredentials

__all__ = ["FakeRegistry"]


class FakeRegistry(Registry):
    """Tags of one repository ``uri``, in memory; ``login`` is what ``credentials`` returns."""

    type: ClassVar[str] = "fake"

    def __init__(
        self,
        uri: str = "registry.test/repo",
        *,
        tags: set[str] | None = None,
        login: RegistryCredentials | None = None,
    ) -> None:
        self.uri = uri
        self.tags: set[str] = set(tags or ())
        self.login = login
        self.unavailable: str | None = None  # set: every call raises BackendUnavailable(this)

    def image_uri(self, tag: str) -> str:
        """``<uri>:<tag>``. Raises InvalidInput for a malformed tag, as the OCI registry does."""
        return tagged(self.uri, tag)

    def exists(self, tag: str) -> bool:
        """Whether ``tag`` was pushed. Raises BackendUnavailable while ``unavailable`` is set."""
        self.image_uri(tag)
        self._check_reachable()
        return tag in self.tags

    def credentials(self) -> RegistryCredentials | None:
        """``login``. Raises BackendUnavailable while ``unavailable`` is set."""
        self._check_reachable()
        return self.login

    def push(self, tag: str) -> str:
        """Put ``tag`` into the registry (what a builder's push does); its image URI."""
        image = self.image_uri(tag)
        self._check_reachable()
        self.tags.add(tag)
        return image

    def _check_reachable(self) -> None:
        if self.unavailable is not None:
            raise BackendUnavailable(f"registry {self.uri} unreachable: {self.unavailable}")
