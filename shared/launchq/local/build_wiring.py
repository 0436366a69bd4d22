"""Local mode's build and cloud pieces, chosen from ``launch-config.yaml`` as W&B's agent does.

- ``registry:`` → where built images are pushed (any type; none → no builds).
- ``builder.type``: ``noop`` (prebuilt images only), ``docker`` (needs a reachable Docker
  engine), ``buildah`` (daemonless). Without a ``builder`` block but with a registry,
  launchq picks docker when an engine answers, else buildah — the local default when no
  engine exists. ``kaniko`` (needs the ``kubernetes`` package) builds in the cluster of the
  kubeconfig's current context, or the pod's own cluster when launchq runs in one (the
  Helm agent); ``codebuild`` runs only in the AWS stack.
- ``environment.type: aws`` → local mode also offers the ``sagemaker`` target (default AWS
  credentials, ``environment.region``), so a workstation can build and submit like W&B's agent.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from launchq.adapters.builders.buildah import BuildahBuilder, buildah_available
from launchq.adapters.builders.docker import DockerBuilder, docker_engine_available
from launchq.adapters.builders.noop import NoopBuilder
from launchq.adapters.registries import registry_from_config
from launchq.adapters.registries.oci import OciRegistry
from launchq.domain.launch_config import LaunchConfig
from launchq.domain.launch_config_blocks import KanikoBuilderConfig
from launchq.errors import InvalidInput
from launchq.ports import Builder, Registry, Target


def registry_for(config: LaunchConfig) -> Registry | None:
    return registry_from_config(config.registry) if config.registry is not None else None


def builder_for(config: LaunchConfig, registry: Registry | None, work_dir: Path) -> Builder:
    """Raises InvalidInput (naming ``builder.type``) for a builder this machine cannot run."""
    kind = config.builder.type if config.builder is not None else None
    if kind in (None, "noop") and (kind == "noop" or registry is None):
        return NoopBuilder()
    if kind == "codebuild":
        raise InvalidInput(
            "'codebuild' builds run in the AWS deployment, not in local mode; use docker or buildah here",
            field="builder.type",
        )
    if registry is None:
        raise InvalidInput(f"the {kind} builder needs a `registry:` to push images to", field="registry")
    if isinstance(config.builder, KanikoBuilderConfig):
        return _kaniko(config.builder, registry, getattr(config.environment, "region", None))
    if kind is None:
        kind = "docker" if docker_engine_available() else "buildah"
    platform = config.builder.platform if config.builder is not None else None
    if kind == "docker":
        if not docker_engine_available():
            raise InvalidInput(
                "builder.type docker, but no Docker engine answers `docker info`", field="builder.type"
            )
        return DockerBuilder(registry, work_dir=work_dir, platform=platform)
    if not buildah_available():
        raise InvalidInput("builder.type buildah, but buildah is not installed", field="builder.type")
    insecure = isinstance(registry, OciRegistry) and registry.insecure
    return BuildahBuilder(registry, work_dir=work_dir, tls_verify=not insecure, platform=platform)


def _kaniko(builder: KanikoBuilderConfig, registry: Registry, region: str | None) -> Builder:
    """The Kaniko builder on the pod's own cluster (in one, with no KUBECONFIG) or the kubeconfig's."""
    if importlib.util.find_spec("kubernetes") is None:
        raise InvalidInput(
            "builder.type kaniko, but the kubernetes package is not installed", field="builder.type"
        )
    from launchq.adapters.builders.kaniko import KanikoBuilder
    from launchq.adapters.targets.kubernetes_options import KubeOptions

    in_pod = bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and not os.environ.get("KUBECONFIG")
    return KanikoBuilder.from_config(builder, registry, cluster=KubeOptions(in_cluster=in_pod), region=region)


def cloud_targets(config: LaunchConfig) -> list[Target]:
    if config.environment is not None and config.environment.type == "aws":
        from launchq.adapters import aws_sdk
        from launchq.adapters.targets.sagemaker import SageMakerTarget

        region = getattr(config.environment, "region", None)
        return [SageMakerTarget(client=aws_sdk.client("sagemaker", region=region))]
    project = getattr(config.environment, "project", None)
    if config.environment is not None and config.environment.type == "gcp" and project:
        # ``environment.type: gcp`` with a project: the ``vertex`` target (Application Default
        # Credentials, ``environment.region``); its SDK loads only at the first Vertex AI call.
        from launchq.adapters.targets.vertex import VertexTarget

        return [VertexTarget(project, config.environment.region)]
    return []
