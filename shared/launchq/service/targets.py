"""Which target resources exist, and which this deployment offers.

Resource names are W&B Launch's. A queue may only point at a resource this deployment
has an adapter for; a known resource that is not configured here is refused with a
message that says what is available, instead of failing later in the dispatcher.

The catalog is the service's registry of targets: the composition roots
(``launchq.local.wiring``, ``launchq.aws.wiring``) fill it with adapters, the services
look targets up in it by the queue's resource and never import an adapter themselves.
"""

from __future__ import annotations

from collections.abc import Mapping

from launchq.errors import InvalidInput
from launchq.ports import Target

KNOWN_RESOURCES = ("local-process", "local-container", "kubernetes", "sagemaker", "vertex")


class TargetCatalog:
    """The targets of one deployment, by resource name."""

    def __init__(self, targets: Mapping[str, Target]) -> None:
        self._targets = dict(targets)

    @property
    def available(self) -> list[str]:
        return sorted(self._targets)

    def get(self, resource: str, field: str = "resource") -> Target:
        """Raises InvalidInput for an unknown or unavailable resource."""
        target = self._targets.get(resource)
        if target is not None:
            return target
        if resource in KNOWN_RESOURCES:
            raise InvalidInput(
                f"resource {resource!r} is not available in this deployment; available: "
                f"{', '.join(self.available)}",
                field=field,
            )
        raise InvalidInput(
            f"unknown resource {resource!r}; known resources: {', '.join(KNOWN_RESOURCES)}",
            field=field,
        )
