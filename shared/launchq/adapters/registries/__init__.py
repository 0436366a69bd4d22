"""Image registries (the ``Registry`` port): ECR, Artifact Registry, ACR and any OCI registry.

``registry_from_config`` turns a validated ``registry`` block of ``launch-config.yaml``
into an adapter, by ``type`` (``local`` is None: images stay in the local engine). Cloud
SDKs load only when an adapter first needs them. As Docker does, an OCI registry on a
loopback host (``localhost``, ``127.x``) is reached over plain HTTP.
"""

from __future__ import annotations

from typing import assert_never

from launchq.adapters.registries.acr import AzureContainerRegistry
from launchq.adapters.registries.ecr import EcrRegistry
from launchq.adapters.registries.gcr import ArtifactRegistry
from launchq.adapters.registries.oci import OciRegistry
from launchq.adapters.registries.uri import RegistryUri, parse_registry_uri, split_host
from launchq.domain import launch_config_blocks as blocks
from launchq.ports import Registry

__all__ = [
    "ArtifactRegistry",
    "AzureContainerRegistry",
    "EcrRegistry",
    "OciRegistry",
    "RegistryUri",
    "is_loopback",
    "parse_registry_uri",
    "registry_from_config",
    "split_host",
]


def is_loopback(host: str) -> bool:
    """Whether ``host[:port]`` is this machine (Docker's default insecure registries)."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name == "localhost" or name.startswith("127.")


def registry_from_config(config: blocks.Registry) -> Registry | None:
    """The adapter for a ``registry`` block; None for ``local``. Raises InvalidInput."""
    match config:
        case blocks.EcrRegistry():
            return EcrRegistry(
                config.uri, repository=config.repository, region=config.region, account_id=config.account_id
            )
        case blocks.GcrRegistry():
            return ArtifactRegistry(
                config.uri,
                repository=config.repository,
                image_name=config.image_name,
                project=config.project,
                region=config.region,
            )
        case blocks.AcrRegistry():
            return AzureContainerRegistry(config.uri)
        case blocks.OciRegistry():
            host, _path = split_host(config.uri)
            return OciRegistry(config.uri, insecure=is_loopback(host))
        case blocks.LocalRegistry():
            return None
        case _:
            assert_never(config)
