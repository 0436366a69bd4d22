"""Decide what to build for a run before any build starts: context, Dockerfile and tag.

The plan is content-addressed (docs/architecture.md, "Where each behaviour lives"): the
tag hashes the source digest, the Dockerfile text, the base image reference and the platform, so a
dispatcher can ask the registry for the tag and skip a build that was already done.
"""

from __future__ import annotations

from pathlib import Path

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

    The source's own Dockerfile (``options.dockerfile``, else ``Dockerfile`` at its root)
    wins, and its first ``FROM`` is the base image; otherwise one is generated and written
    as ``Dockerfile.launchq`` in the context. ``BuildPlan.dockerfile`` is relative to the
    context. A platform ``options`` leaves out is :data:`DEFAULT_PLATFORM` (callers fill in
    the builder's with ``BuildOptions.with_default_platform``). Raises InvalidInput (a user
    mistake in the source, the options or the Dockerfile), LaunchFailed (the source cannot
    be fetched), BackendUnavailable.
    """
    context = workdir / "context"
    source_digest = prepare_source(spec, context, code_store)
    own = find_dockerfile(context, options.dockerfile)
    if own is not None:
        text = read_dockerfile(own)
        base_image = first_base_image(text)
        dockerfile = own.relative_to(context.resolve())
    else:
        text = render_dockerfile(context, options, spec.entry_point)
        base_image = base_image_for(options)
        dockerfile = Path(GENERATED_NAME)
        (context / dockerfile).write_text(text, encoding="utf-8")
    platform = options.platform or DEFAULT_PLATFORM
    tag = content_tag(source_digest, text, base_image, platform)
    return BuildPlan(
        image_uri=registry.image_uri(tag),
        tag=tag,
        context_dir=str(context.resolve()),
        dockerfile=dockerfile.as_posix(),
        platform=platform,
    )
