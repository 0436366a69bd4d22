"""The ``noop`` builder: prebuilt images only (W&B's ``builder.type: noop``)."""

from __future__ import annotations

from launchq.domain.models import Run
from launchq.errors import InvalidInput
from launchq.ports import Builder, BuildPlan, BuildResult

NEEDS_IMAGE = (
    "this queue's target needs an image and the noop builder builds none: pass docker_image, "
    "or configure a builder (docker, buildah, kaniko, codebuild)"
)


class NoopBuilder(Builder):
    type = "noop"

    def check(self, run: Run) -> None:
        if not run.spec.docker_image:
            raise InvalidInput(NEEDS_IMAGE, field="docker_image")

    def start(self, run: Run, plan: BuildPlan) -> BuildResult:
        return BuildResult(state="failed", detail=NEEDS_IMAGE)

    def status(self, run: Run, build_id: str) -> BuildResult:
        return BuildResult(state="failed", detail=NEEDS_IMAGE)

    def logs(self, run: Run, build_id: str, offset: int = 0) -> tuple[str, int]:
        return "", offset
