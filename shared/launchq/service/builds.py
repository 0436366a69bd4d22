"""Images for runs that need one: decide, build (or skip), and follow asynchronous builds.

A run needs a build when its target runs images and the run brings a source (``uri``)
instead of a ``docker_image``. The image tag is a content hash of the source, the
Dockerfile, the base image and the platform, so the registry is asked first and a tag
already there is never rebuilt. Synchronous builders (buildah, docker) finish inside
``begin``; asynchronous ones (CodeBuild, Kaniko) leave the run ``building`` with its build
id, and ``poll`` (reconciler, or a build-state event) picks it up.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

from launchq.build.options import BuildOptions, parse_build_options
from launchq.build.planner import plan_build
from launchq.domain.code_ref import is_code_ref
from launchq.domain.models import JsonObject, Run, RunSpec, RunUpdate
from launchq.domain.states import RunState
from launchq.errors import InvalidInput, LaunchFailed
from launchq.ports import BuildResult, Registry, Target
from launchq.service.context import Context
from launchq.service.leases import lease_held
from launchq.service.transitions import Transitions

# What a target is validated with at enqueue when its image will only exist after the build.
PENDING_IMAGE = "registry.invalid/launchq/pending-build:0"


def needs_build(target: Target, spec: RunSpec) -> bool:
    return target.needs_image and not spec.docker_image


def split_build_options(resource: str, resolved: JsonObject) -> tuple[JsonObject, BuildOptions]:
    """Take ``builder`` out of the resolved args (it is launchq's, not the target's).

    Returns (resource args for the target, build options). Raises InvalidInput.
    """
    rest = {k: v for k, v in resolved.items() if k != "builder"}
    return rest, parse_build_options(resolved.get("builder"), field=f"resource_args.{resource}.builder")


class BuildService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.moves = Transitions(ctx)

    def check(self, target: Target, spec: RunSpec, run: Run) -> RunSpec:
        """Refuse at enqueue what cannot be built; return the spec to validate the target with."""
        if not needs_build(target, spec):
            return spec
        self.ctx.builder.check(run)
        if self.ctx.registry is None:
            raise InvalidInput(
                "this queue's target needs an image; pass docker_image or configure a registry "
                "(launch-config.yaml `registry:`) so launchq can build one",
                field="docker_image",
            )
        if spec.uri and is_code_ref(spec.uri) and self.ctx.code_store is None:
            raise InvalidInput("code:// sources need a code store, and none is configured", field="uri")
        return spec.model_copy(update={"docker_image": PENDING_IMAGE})

    def begin(self, run: Run) -> tuple[Run, str | None]:
        """Build (or find) the run's image. Returns the run and the image URI when it is ready,
        or (run in ``building``, None) while an asynchronous build runs.

        Raises LaunchFailed/InvalidInput (the caller dead-letters the run).
        """
        registry = self._registry()
        workdir = self.ctx.build_dir / run.id
        shutil.rmtree(workdir, ignore_errors=True)  # a retried claim starts from a clean slate
        workdir.mkdir(parents=True)
        options = run.build.with_default_platform(self.ctx.builder.platform)
        if run.spec.dockerfile:
            options = options.model_copy(update={"dockerfile": run.spec.dockerfile})
        try:  # the prepared source is only needed until the builder has taken it
            plan = plan_build(run.spec, options, registry, workdir, self.ctx.code_store)
            if registry.exists(plan.tag):
                run = self.moves.move(
                    run,
                    RunState.BUILDING,
                    f"image {plan.image_uri} is in the registry; no build",
                    RunUpdate(image_uri=plan.image_uri),
                )
                return run, plan.image_uri
            run = self.moves.move(
                run, RunState.BUILDING, f"building {plan.image_uri} with {self.ctx.builder.type}",
                RunUpdate(image_uri=plan.image_uri),
            )  # fmt: skip
            with lease_held(self.ctx, run):  # a synchronous build may outlast one lease
                result = self.ctx.builder.start(run, plan)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return self._settle(run, result, plan.image_uri)

    def poll(self, run: Run) -> tuple[Run, str | None]:
        """Follow an asynchronous build. Raises LaunchFailed when it failed or timed out."""
        build_id = run.build_id
        if not build_id:
            raise LaunchFailed("build record lost (no build id); enqueue the run again")
        result = self.ctx.builder.status(run, build_id)
        if result.state == "building" and self._timed_out(run):
            raise LaunchFailed(
                f"build {build_id} ran longer than {self.ctx.settings.build_timeout_seconds:g}s"
            )
        return self._settle(run, result, run.image_uri or "")

    def logs(self, run: Run, offset: int) -> tuple[str, int]:
        """The build log of ``run`` from ``offset``: its recorded build's, or while a
        synchronous build is running (``building``, no id recorded yet) the builder's live one."""
        build_id = run.build_id
        if not build_id and run.state is RunState.BUILDING:
            build_id = self.ctx.builder.live_log_id(run)
        if not build_id:
            return "", offset
        return self.ctx.builder.logs(run, build_id, offset)

    def _settle(self, run: Run, result: BuildResult, image_uri: str) -> tuple[Run, str | None]:
        if result.state == "failed":
            raise LaunchFailed(f"build failed: {result.detail}" if result.detail else "build failed")
        if result.state == "ready":
            if result.build_id:  # stored with the submit, so the build log stays reachable
                run = run.model_copy(update={"build_id": result.build_id})
            return run, result.image_uri or image_uri
        if run.build_id != result.build_id:
            update = RunUpdate(build_id=result.build_id, image_uri=image_uri)
            run = self.moves.move(run, RunState.BUILDING, f"build {result.build_id} started", update)
        return run, None

    def _timed_out(self, run: Run) -> bool:
        return self.ctx.clock() - run.updated_at > timedelta(seconds=self.ctx.settings.build_timeout_seconds)

    def _registry(self) -> Registry:
        if self.ctx.registry is None:
            raise LaunchFailed("no registry is configured to push the built image to")
        return self.ctx.registry
