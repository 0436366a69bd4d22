"""Decide what to build for a run before any build starts: context, Dockerfile and tag.

The plan is content-addressed (docs/architecture.md, "Where each behaviour lives"): the
tag hashes the source digest, the Dockerfile text, the base image reference and the platform, so a
dispatcher can ask the registry for the tag and skip a build that was already done.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from launchq.build.build_context import source_subdir
from launchq.build.dockerfile import (
    GENERATED_NAME,
    base_image_for,
    find_dockerfile,
    first_base_image,
    read_dockerfile,
    render_dockerfile,
)
from launchq.build.options import DEFAULT_PLATFORM, BuildOptions
from launchq.build.source import prepare_source
from launchq.build.tag import content_tag
from launchq.domain.models import RunSpec
from launchq.ports import BuildPlan, CodeStore, Registry


def plan_build(
    spec: RunSpec,
    options: BuildOptions,
    registry: Registry,
    workdir: Path,
    code_store: CodeStore | None,
) -> BuildPlan:
    """Prepare ``workdir/context`` and return the plan for building it.

    The context is the source, or its ``spec.build_context`` sub-directory (W&B's
    ``--build-context``). The source's own Dockerfile (``options.dockerfile``, a path from the
    source's root as W&B's ``-D`` is, else ``Dockerfile`` at the context's root) wins, and its
    first ``FROM`` is the base image; otherwise one is generated and written as
    ``Dockerfile.launchq`` in the context. ``BuildPlan.dockerfile`` is relative to the
    context. A platform ``options`` leaves out is :data:`DEFAULT_PLATFORM` (callers fill in
    the builder's with ``BuildOptions.with_default_platform``). Raises InvalidInput (a user
    mistake in the source, the options or the Dockerfile), LaunchFailed (the source cannot
    be fetched), BackendUnavailable.
    """
    source = workdir / "context"
    source_digest = prepare_source(spec, source, code_store)
    context = source_subdir(source, spec.build_context)
    own = (
        find_dockerfile(source, options.dockerfile) if options.dockerfile else find_dockerfile(context, None)
    )
    if own is not None:
        text = read_dockerfile(own)
        base_image = first_base_image(text)
        dockerfile = _within_context(context, own, text)
    else:
        text = render_dockerfile(context, options, spec.entry_point)
        base_image = base_image_for(options)
        dockerfile = Path(GENERATED_NAME)
        (context / dockerfile).write_text(text, encoding="utf-8")
    platform = options.platform or DEFAULT_PLATFORM
    if spec.build_context:  # the same source built from another directory is another image
        source_digest = f"{source_digest}:{PurePosixPath(spec.build_context).as_posix()}"
    tag = content_tag(source_digest, text, base_image, platform)
    return BuildPlan(
        image_uri=registry.image_uri(tag),
        tag=tag,
        context_dir=str(context.resolve()),
        dockerfile=dockerfile.as_posix(),
        platform=platform,
    )


def _within_context(context: Path, dockerfile: Path, text: str) -> Path:
    """``dockerfile`` relative to ``context``; one outside it (``-D`` names a file beside a
    ``--build-context``) is copied in as ``Dockerfile.launchq``, since asynchronous builders
    ship only the context."""
    root = context.resolve()
    if dockerfile.is_relative_to(root):
        return dockerfile.relative_to(root)
    (context / GENERATED_NAME).write_text(text, encoding="utf-8")
    return Path(GENERATED_NAME)
