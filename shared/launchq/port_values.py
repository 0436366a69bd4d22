"""The values the ports exchange: what a target reports, what a build is and where it stands,
registry credentials, the log tail an agent shipped. Pydantic models and literals only;
``launchq.ports`` re-exports them, so adapters and services import everything port-shaped
from one place."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "BuildNotice",
    "BuildPlan",
    "BuildResult",
    "BuildState",
    "LogTail",
    "RegistryCredentials",
    "TargetState",
    "TargetStatus",
]


TargetState = Literal["starting", "running", "finished", "failed", "stopped", "lost", "preempted"]
"""What a target says of a job. ``preempted``: the cluster took the job away (a pod evicted
or disrupted to make room, a spot node reclaimed) through no fault of the run; the service
requeues the run at its place in line (up to ``LAUNCHQ_MAX_PREEMPTIONS`` times) instead of
failing it. A target that cannot tell a preemption from a failure never reports it."""


class TargetStatus(BaseModel):
    """What a target reports about a submitted run."""

    state: TargetState
    exit_code: int | None = None
    detail: str = ""
    unschedulable: bool = Field(
        default=False,
        description="a starting job the scheduler cannot place (detail: its words); past the start "
        "timeout the run fails rather than being dead-lettered, as a replay would meet the same cluster",
    )


class BuildPlan(BaseModel):
    """What to build for a run, decided before any build starts (content-addressed)."""

    image_uri: str = Field(description="registry URI with the content-hash tag")
    tag: str
    context_dir: str = Field(description="local directory with the source and the Dockerfile")
    dockerfile: str = Field(description="path of the Dockerfile inside the context")
    platform: str = "linux/amd64"


BuildState = Literal["ready", "building", "failed"]
BuildNotice = Callable[[str, str, BuildState], None]
"""``(run_id, build_id, state)`` of a build that changed state (``Builder.watch``)."""


class BuildResult(BaseModel):
    """Where a build stands: ``ready`` (image pushed), ``building`` (async), or ``failed``."""

    state: BuildState
    image_uri: str = ""
    build_id: str = ""
    detail: str = Field(default="", description="for failed: the tail of the build log")


class RegistryCredentials(BaseModel):
    """A user name and a password/token for ``docker login``-style pushes; never logged."""

    username: str
    password: str = Field(repr=False)
    server: str

    def auth_file(self) -> str:
        """A Docker ``config.json`` / containers ``auth.json`` holding these credentials (the
        same ``auths`` map: buildah's ``--authfile``, a ``kubernetes.io/dockerconfigjson`` Secret)."""
        pair = f"{self.username}:{self.password}".encode()
        return json.dumps({"auths": {self.server: {"auth": base64.b64encode(pair).decode("ascii")}}})


#: How much of a shipped job log the control plane keeps per run: the last 64 KiB of characters.
LOG_TAIL_CHARS = 64 * 1024


class LogTail(BaseModel):
    """The end of a job's log that an agent shipped (``RunStore.save_log_tail``).

    For runs whose job the control plane cannot read itself (an agent's local process or
    cluster): only a bounded tail is kept, and ``end`` says where it stands in the whole
    log, so the agent resumes shipping from ``end`` and a reader asks for offsets past it.
    ``text`` need not be exactly the log's last ``len(text)`` characters: a gap the agent
    could not ship is kept as a marker line, so no length relation to ``end`` is enforced.
    """

    text: str = Field(max_length=LOG_TAIL_CHARS, description="the last characters of the log")
    end: int = Field(ge=0, description="offset just past ``text`` in the whole log")
