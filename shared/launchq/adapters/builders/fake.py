"""An in-memory builder: the ``Builder`` stub shipped in the package.

It passes the same contract suite as ``buildah``, ``docker``, ``codebuild`` and ``noop``
(``tests/contract/test_builder_contract.py``), so the build state machine (a run
``building``, resumed when its build ends, dead-lettered when it fails) can be tested
without buildah, a Docker engine or CodeBuild. Nothing is built: a successful build
pushes the plan's tag into its ``FakeRegistry``, which is what the service looks at.

Outcomes are settable: ``asynchronous=False`` builds end inside ``start`` (as buildah's
and docker's do); ``asynchronous=True`` builds stay ``building`` until ``finish`` is
called (as CodeBuild's do, until its state-change event); ``finish`` then tells whoever
``watch``es, as Kaniko's job watch does. ``fail_with`` makes the builds that end from then
on fail with that detail.
"""

from __future__ import annotations

from typing import ClassVar

from launchq.adapters.registries.fake import FakeRegistry
from launchq.domain.models import Run
from launchq.errors import InvalidInput
from launchq.ports import Builder, BuildNotice, BuildPlan, BuildResult

__all__ = ["NEEDS_SOURCE", "FakeBuilder"]

NEEDS_SOURCE = "a build needs a source: give uri (a git URL or a directory), or a prebuilt docker_image"


class FakeBuilder(Builder):
    """Builds recorded by id in ``plans`` and ``results``; each build's log in ``log``."""

    type: ClassVar[str] = "fake"

    def __init__(
        self, registry: FakeRegistry | None = None, *, asynchronous: bool = False, platform: str | None = None
    ) -> None:
        self.registry = registry if registry is not None else FakeRegistry()
        self.asynchronous = asynchronous
        self.platform = platform
        self.fail_with: str | None = None
        self.plans: dict[str, BuildPlan] = {}
        self.results: dict[str, BuildResult] = {}
        self.log: dict[str, str] = {}
        self.run_ids: dict[str, str] = {}  # build id -> the run it was started for
        self._notify: BuildNotice | None = None

    def check(self, run: Run) -> None:
        """Refuse a run with neither a source nor an image. Raises InvalidInput (field ``uri``)."""
        if not run.spec.docker_image and not run.spec.uri:
            raise InvalidInput(NEEDS_SOURCE, field="uri")

    def start(self, run: Run, plan: BuildPlan) -> BuildResult:
        """Record the build; ``building`` when asynchronous, else its outcome now.

        Raises BackendUnavailable when the registry is (as a real builder's login would).
        """
        self.registry.credentials()
        build_id = f"fake-build-{len(self.plans) + 1}"
        self.plans[build_id] = plan
        self.run_ids[build_id] = run.id
        self.log[build_id] = f"building {plan.image_uri} for {plan.platform} from {plan.context_dir}\n"
        self.results[build_id] = BuildResult(state="building", build_id=build_id, image_uri=plan.image_uri)
        return self.results[build_id] if self.asynchronous else self.finish(build_id)

    def status(self, run: Run, build_id: str) -> BuildResult:
        """The build's recorded result; ``failed`` for a build this builder never started."""
        result = self.results.get(build_id)
        if result is None:
            return BuildResult(state="failed", build_id=build_id, detail=f"build not found: {build_id}")
        return result

    def logs(self, run: Run, build_id: str, offset: int = 0) -> tuple[str, int]:
        """The build's log from character ``offset`` on, and the next offset."""
        if offset < 0:
            raise InvalidInput("must be 0 or more", field="offset")
        chunk = self.log.get(build_id, "")[offset:]
        return chunk, offset + len(chunk)

    def watch(self, notify: BuildNotice | None) -> None:
        """Asynchronous builds ended by ``finish`` are reported to ``notify``."""
        self._notify = notify

    # -- driving the fake -------------------------------------------------------------
    def finish(self, build_id: str) -> BuildResult:
        """End a ``building`` build: pushed (``ready``), or ``failed`` with ``fail_with``.

        An ended build keeps its result. Raises BackendUnavailable when the push cannot reach
        the registry (the build stays ``building``, to be finished again).
        """
        result = self.results[build_id]
        if result.state != "building":
            return result
        plan = self.plans[build_id]
        if self.fail_with is not None:
            ended = BuildResult(state="failed", build_id=build_id, detail=self.fail_with)
        else:
            self.registry.push(plan.tag)
            ended = BuildResult(state="ready", build_id=build_id, image_uri=plan.image_uri)
        self.log[build_id] += f"{ended.state}: {ended.detail or ended.image_uri}\n"
        self.results[build_id] = ended
        if self.asynchronous and self._notify is not None:
            self._notify(self.run_ids[build_id], build_id, ended.state)
        return ended
