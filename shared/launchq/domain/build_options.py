"""Build options: the ``builder`` block of a queue's or run's ``resource_args.<resource>``.

They live in the domain because a ``Run`` carries them (``Run.build``) from enqueue to the
build, typed all the way; ``launchq.build.options`` parses a user's block into them.

W&B Launch's key for a GPU base image is kept::

    resource_args:
      sagemaker:
        builder:
          accelerator:
            base_image: nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

``platform`` left out means the builder's default: ``launch-config.yaml``'s
``builder.platform`` (W&B's key), else ``linux/amd64``. The queue's or run's value wins,
as the more specific one.

Image references are checked against the Docker reference grammar before they get near a
Dockerfile, so a value can never smuggle an extra instruction onto the ``FROM`` line.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from launchq.domain.launch_config_blocks import Platform

DEFAULT_PLATFORM: Platform = "linux/amd64"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?/)?"
IMAGE_REF_PATTERN = (
    rf"^{_DOMAIN}{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
"""``[registry[:port]/]name[/name...][:tag][@sha256:digest]``, as Docker parses references."""

ImageRef = Annotated[
    str,
    Field(
        pattern=IMAGE_REF_PATTERN,
        max_length=512,
        description="an image reference, e.g. python:3.11-slim or nvidia/cuda:12.4.1-runtime-ubuntu22.04",
    ),
]


class AcceleratorOptions(BaseModel):
    """A GPU base image (CUDA, ROCm) that brings no Python; launchq installs one on top."""

    model_config = ConfigDict(extra="forbid")

    base_image: ImageRef


class BuildOptions(BaseModel):
    """How to build an image for a source that needs one."""

    model_config = ConfigDict(extra="forbid")

    accelerator: AcceleratorOptions | None = None
    python_version: str | None = Field(
        default=None,
        pattern=r"^3\.\d+$",
        description="major.minor, e.g. 3.11; default: the Python launchq itself runs on",
    )
    platform: Platform | None = Field(
        default=None, description="linux/amd64 or linux/arm64; default: the builder's (builder.platform)"
    )
    base_image: ImageRef | None = Field(
        default=None, description="an image that already has Python; wins over accelerator.base_image"
    )
    dockerfile: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="path of the Dockerfile inside the source (-D/--dockerfile)",
    )

    def with_default_platform(self, platform: str | None) -> BuildOptions:
        """These options with ``platform`` filled in when the queue and run left it out:
        the builder's (``launch-config.yaml`` ``builder.platform``), else :data:`DEFAULT_PLATFORM`."""
        if self.platform is not None:
            return self
        return self.model_copy(update={"platform": platform or DEFAULT_PLATFORM})
