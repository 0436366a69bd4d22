"""The ``docker`` builder (W&B's ``builder.type: docker``): the local Docker engine builds and pushes.

``start`` runs, without a shell::

    docker --config <private dir> login --username <user> --password-stdin <server>   (password on stdin)
    docker [--config <private dir>] build --platform <platform> [--pull] -f <context>/<dockerfile> \\
        -t <image> <context>
    docker [--config <private dir>] push <image>

The login goes to a private, temporary Docker config directory (0700, removed after the
build), so the agent's own ``~/.docker/config.json`` is never written and the password
is never in argv, the log or ``detail``. Synchronous: ``start`` returns ``ready`` or
``failed``; ``status`` answers from the recorded result, ``logs`` from the build log.

Test gap: no Docker engine runs on the development machine. The command lines and the
login on stdin are tested at the client boundary with a fake ``docker`` executable first
on PATH that records its argv and stdin; ``docker_engine_available()`` is tested False.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from launchq.adapters.builders.cli_build import CliBuilder, Step, executable_runs
from launchq.ports import BuildPlan, Registry, RegistryCredentials

__all__ = ["DockerBuilder", "docker_engine_available"]

PullPolicy = Literal["missing", "always"]


def docker_engine_available(docker: str = "docker", timeout: float = 10.0) -> bool:
    """Whether a Docker engine answers ``docker info`` (exit 0) within ``timeout``."""
    return executable_runs([docker, "info"], timeout)


class DockerBuilder(CliBuilder):
    """Builds with ``docker build`` and pushes with ``docker push``."""

    type: ClassVar[str] = "docker"
    tool: ClassVar[str] = "docker"

    def __init__(
        self,
        registry: Registry,
        *,
        work_dir: Path,
        pull: PullPolicy = "missing",
        docker: str = "docker",
        timeout: float = 3600.0,
        platform: str | None = None,
    ) -> None:
        """``platform``: launch-config's ``builder.platform``, the default a run's options may override."""
        super().__init__(registry, work_dir=work_dir, executable=docker, timeout=timeout, platform=platform)
        self.pull = pull

    def steps(
        self, plan: BuildPlan, credentials: RegistryCredentials | None, private_dir: Path
    ) -> list[Step]:
        steps: list[Step] = []
        config: list[str] = []
        if credentials is not None:
            config = ["--config", str(private_dir)]
            login = [
                self.executable,
                *config,
                "login",
                "--username",
                credentials.username,
                "--password-stdin",
                credentials.server,
            ]
            steps.append(Step("docker login", login, stdin=credentials.password.encode()))
        pull = ["--pull"] if self.pull == "always" else []
        dockerfile = Path(plan.context_dir) / plan.dockerfile
        build = [
            self.executable,
            *config,
            "build",
            "--platform",
            plan.platform,
            *pull,
            "-f",
            str(dockerfile),
            "-t",
            plan.image_uri,
            plan.context_dir,
        ]
        steps += [
            Step("docker build", build),
            Step("docker push", [self.executable, *config, "push", plan.image_uri]),
        ]
        return steps
