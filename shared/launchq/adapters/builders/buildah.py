"""The ``buildah`` builder: daemonless builds on the agent's machine, pushed to the registry.

``start`` runs, without a shell::

    buildah bud --isolation chroot --pull=<pull> --format docker --platform <platform> \\
        [--tls-verify=false] [--authfile <file>] -f <context>/<dockerfile> -t <image> <context>
    buildah push [--tls-verify=false] [--authfile <file>] <image>

``--isolation chroot`` runs ``RUN`` steps without a container runtime (none is needed on
the agent). ``--format docker`` writes Docker v2 schema 2 manifests, which every registry
and runtime accepts. The registry's credentials go into an auth file (0600, in a private
temporary directory removed after the build): never into argv, the log or ``detail``.
The build is synchronous: ``start`` returns ``ready`` or ``failed``; ``status`` answers
from the recorded result and ``logs`` from ``work_dir/<run id>/build.log``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from launchq.adapters.builders.cli_build import CliBuilder, Step, executable_runs, write_private
from launchq.ports import BuildPlan, Registry, RegistryCredentials

__all__ = ["BuildahBuilder", "buildah_available"]

PullPolicy = Literal["missing", "never", "always"]
ImageFormat = Literal["docker", "oci"]


def buildah_available(buildah: str = "buildah", timeout: float = 10.0) -> bool:
    """Whether ``buildah version`` runs here."""
    return executable_runs([buildah, "version"], timeout)


class BuildahBuilder(CliBuilder):
    """Builds with ``buildah bud`` and pushes with ``buildah push``."""

    type: ClassVar[str] = "buildah"
    tool: ClassVar[str] = "buildah"

    def __init__(
        self,
        registry: Registry,
        *,
        work_dir: Path,
        tls_verify: bool = True,
        pull: PullPolicy = "missing",
        buildah: str = "buildah",
        image_format: ImageFormat = "docker",
        timeout: float = 3600.0,
        platform: str | None = None,
    ) -> None:
        """``platform``: launch-config's ``builder.platform``, the default a run's options may override."""
        super().__init__(registry, work_dir=work_dir, executable=buildah, timeout=timeout, platform=platform)
        self.tls_verify = tls_verify
        self.pull = pull
        self.image_format = image_format

    def steps(
        self, plan: BuildPlan, credentials: RegistryCredentials | None, private_dir: Path
    ) -> list[Step]:
        common = [] if self.tls_verify else ["--tls-verify=false"]
        if credentials is not None:
            auth_file = private_dir / "auth.json"
            write_private(auth_file, credentials.auth_file())
            common += ["--authfile", str(auth_file)]
        dockerfile = Path(plan.context_dir) / plan.dockerfile
        bud = [
            self.executable,
            "bud",
            "--isolation",
            "chroot",
            f"--pull={self.pull}",
            "--format",
            self.image_format,
            "--platform",
            plan.platform,
            *common,
            "-f",
            str(dockerfile),
            "-t",
            plan.image_uri,
            plan.context_dir,
        ]
        push = [self.executable, "push", *common, plan.image_uri]
        return [Step("buildah bud", bud), Step("buildah push", push)]
