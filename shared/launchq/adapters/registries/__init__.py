"""Image registries (the ``Registry`` port): ECR, Artifact Registry, ACR and any OCI registry.

``registry_from_config`` turns a validated ``registry`` block of ``launch-config.yaml``
into an adapter, by ``type`` (``local`` is None: images stay in the local engine). As
Docker does, an OCI registry on a loopback host (``localhost``, ``127.x``) is reached over
plain HTTP.

Every adapter module is imported on first use, never by importing this package: the AWS
stack uses ECR alone (through the ECR API, with boto3), so a Lambda cold start must not
load httpx, nor the Google or Azure registries. The adapter classes are still importable
from here (``from launchq.adapters.registries import OciRegistry``): ``_ADAPTERS`` maps each
public name to the module that defines it, and the module-level ``__getattr__`` (PEP 562)
imports that module when the name is first asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, assert_never

from launchq.adapters.registries.uri import RegistryUri, parse_registry_uri, split_host
from launchq.domain import launch_config_blocks as blocks
from launchq.ports import Registry

if TYPE_CHECKING:
    from launchq.adapters.registries.acr import AzureContainerRegistry
    from launchq.adapters.registries.ecr import EcrRegistry
    from launchq.adapters.registries.gcr import ArtifactRegistry
    from launchq.adapters.registries.oci import OciRegistry

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

_ADAPTERS = {
    "ArtifactRegistry": "launchq.adapters.registries.gcr",
    "AzureContainerRegistry": "launchq.adapters.registries.acr",
    "EcrRegistry": "launchq.adapters.registries.ecr",
    "OciRegistry": "launchq.adapters.registries.oci",
}


def __getattr__(name: str) -> Any:
    """An adapter class, its module imported now (the first time it is asked for)."""
    module = _ADAPTERS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def is_loopback(host: str) -> bool:
    """Whether ``host[:port]`` is this machine (Docker's default insecure registries)."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name == "localhost" or name.startswith("127.")


def registry_from_config(config: blocks.RegistryConfig) -> Registry | None:
    """The adapter for a ``registry`` block; None for ``local``. Raises InvalidInput.

    Each branch imports only its own adapter's module (see the module docstring).
    """
    match config:
        case blocks.EcrRegistryConfig():
            from launchq.adapters.registries.ecr import EcrRegistry

            return EcrRegistry(
                config.uri, repository=config.repository, region=config.region, account_id=config.account_id
            )
        case blocks.GcrRegistryConfig():
            from launchq.adapters.registries.gcr import ArtifactRegistry

            return ArtifactRegistry(
                config.uri,
                repository=config.repository,
                image_name=config.image_name,
                project=config.project,
                region=config.region,
            )
        case blocks.AcrRegistryConfig():
            from launchq.adapters.registries.acr import AzureContainerRegistry

            return AzureContainerRegistry(config.uri)
        case blocks.OciRegistryConfig():
            from launchq.adapters.registries.oci import OciRegistry

            host, _path = split_host(config.uri)
            return OciRegistry(config.uri, insecure=is_loopback(host))
        case blocks.LocalRegistryConfig():
            return None
        case _:
            assert_never(config)
