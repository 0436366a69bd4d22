"""The ``noop`` builder: prebuilt images only (W&B's ``builder.type: noop``)."""

from __future__ import annotations

from launchq.domain.models import Run
from launchq.errors import InvalidInput, LaunchFailed
from launchq.ports import Builder


class NoopBuilder(Builder):
    type = "noop"

    def check(self, run: Run) -> None:
        if not run.spec.docker_image:
            raise InvalidInput(
                "this queue's target needs an image and the noop builder builds none: "
                "pass docker_image, or configure a builder (docker, buildah, kaniko, codebuild)",
                field="docker_image",
            )

    def build(self, run: Run) -> str:
        if not run.spec.docker_image:
            raise LaunchFailed("the noop builder cannot build from source; docker_image is required")
        return run.spec.docker_image
