"""The Builder contract: one suite, run against every builder adapter that can run here.

- ``buildah``: real builds (``--isolation chroot``) pushed to the session's real
  docker-registry, checked there with ``OciRegistry.exists``.
- ``docker``: no Docker engine runs here, and the recording ``docker`` of
  ``tests/unit/test_docker_builder.py`` builds nothing, so it could not pass "the image is
  in the registry". The docker builder runs instead against a ``docker`` stand-in that
  hands each command line it is given to buildah (the same arguments): its commands build
  and push a real image.
- ``codebuild``: CodeBuild, S3 and CloudWatch Logs on moto, the images going to the real
  registry. moto never runs a build, so the test plays CodeBuild's part: the buildspec the
  builder sent is run with ``sh`` in the context read back from moto's S3, ``docker``
  being the buildah stand-in (as ``tests/integration/test_codebuild_builder.py`` does);
  moto then reports the build ``SUCCEEDED``.
- ``kaniko``: the Kubernetes API stand-in (``tests/kube_stand_in.py``) as the cluster and
  moto's S3 as the build-context-store; the test plays Kaniko's part with buildah
  (``play_kaniko``: the context read back from S3, the Job's own ``--dockerfile`` and
  ``--destination``, the image pushed to the real registry) and ends the pod with its log.
- ``kaniko-azure``: the same with the build-context-store a container in a real Azurite;
  Kaniko's part reads the context as Kaniko does (``play_kaniko_azure``: the account key
  from the Secret the Job's ``AZURE_STORAGE_ACCESS_KEY`` names, the blob from ``--context``).
- ``fake`` and ``fake-async``: the package's ``FakeBuilder`` (builds ending inside
  ``start``, or ``building`` until ``finish``), pushing into a ``FakeRegistry``.
- ``noop`` builds nothing; it runs the part of the suite every builder obeys.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from mypy_boto3_codebuild import CodeBuildClient
from mypy_boto3_s3 import S3Client

from launchq.adapters.builders.buildah import BuildahBuilder
from launchq.adapters.builders.codebuild import CodeBuildBuilder
from launchq.adapters.builders.docker import DockerBuilder
from launchq.adapters.builders.fake import FakeBuilder
from launchq.adapters.builders.kaniko import KanikoBuilder
from launchq.adapters.builders.noop import NoopBuilder
from launchq.adapters.registries.fake import FakeRegistry
from launchq.adapters.registries.oci import OciRegistry
from launchq.domain.models import Run, RunSpec
from launchq.errors import InvalidInput
from launchq.ports import Builder, BuildPlan, BuildResult, Registry
from tests.integration.test_codebuild_builder import (
    BUCKET,
    BUILDAH_AS_DOCKER,
    PROJECT,
    codebuild,
    env_of,
    run_buildspec,
    s3,
    unpack_context,
)
from tests.integration.test_kaniko_builder import play_kaniko
from tests.integration.test_kaniko_contexts import container, play_kaniko_azure
from tests.kube_stand_in import KubeStandIn, client_factory

__all__ = [
    "codebuild",
    "container",
    "s3",
]  # moto's CodeBuild project and bucket, an Azurite container: fixtures

GOOD = "FROM scratch\nCOPY train.py /train.py\n"
BROKEN = "FROM scratch\nCOPY no-such-file.txt /x\n"  # fails in the build step: nothing to copy


def make_run(**spec: Any) -> Run:
    now = datetime.now(UTC)
    return Run(
        id=uuid.uuid4().hex[:16], queue="q", entity="e", spec=RunSpec(**spec), created_at=now, updated_at=now
    )


@dataclass
class BuilderUnderTest:
    builder: Builder
    registry: Registry  # where the builder's images go
    context: Path
    # Plays the part of whatever ends an asynchronous build (CodeBuild, the fake's finish).
    settle: Callable[[BuildResult], object] = field(default=lambda result: None)
    # Makes the next plan one that cannot be built; returns that plan.
    breaking: Callable[[BuilderUnderTest], BuildPlan] = field(
        default=lambda under_test: under_test.plan(BROKEN)
    )

    def plan(self, dockerfile: str = GOOD, name: str = "Dockerfile") -> BuildPlan:
        tag = uuid.uuid4().hex[:24]
        (self.context / name).write_text(dockerfile)
        return BuildPlan(
            image_uri=self.registry.image_uri(tag), tag=tag, context_dir=str(self.context), dockerfile=name
        )

    def build(self, run: Run, plan: BuildPlan, timeout: float = 120.0) -> tuple[BuildResult, BuildResult]:
        """What ``start`` returned, and how the build ended (polled through ``status``)."""
        started = self.builder.start(run, plan)
        if started.state != "building":
            return started, started
        self.settle(started)
        deadline = time.monotonic() + timeout
        while (ended := self.builder.status(run, started.build_id)).state == "building":
            assert time.monotonic() < deadline, f"build {started.build_id} still building"
            time.sleep(0.1)
        return started, ended


def _context(tmp_path: Path) -> Path:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "train.py").write_text("print('training')\n")
    return context


def _docker_as_buildah(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A ``docker`` executable running each build and push with buildah; its path."""
    bin_dir = tmp_path / "docker-bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(BUILDAH_AS_DOCKER)
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return str(docker)


def _codebuild(request: pytest.FixtureRequest, registry: OciRegistry, tmp_path: Path) -> BuilderUnderTest:
    # moto (reset for this test) with the template's CodeBuild project and the artifacts bucket
    codebuild: CodeBuildClient = request.getfixturevalue("codebuild")
    s3: S3Client = request.getfixturevalue("s3")
    sent: list[dict[str, Any]] = []
    codebuild.meta.events.register(
        "before-send.codebuild.StartBuild", lambda request, **_: sent.append(json.loads(request.body))
    )
    builder = CodeBuildBuilder(
        PROJECT, BUCKET, registry, codebuild_client=codebuild, s3_client=s3, logs_client=boto3.client("logs")
    )

    def play_codebuild(result: BuildResult) -> None:
        build = sent.pop()
        workdir = tmp_path / f"codebuild-{len(sent)}-{uuid.uuid4().hex[:6]}"
        tag = build["sourceLocationOverride"].rsplit("/", 1)[1].removesuffix(".tar.gz")
        unpacked = unpack_context(s3, tag, workdir / "src")
        spec = yaml.safe_load(build["buildspecOverride"])
        run_buildspec(spec, unpacked, env_of(build), workdir / "bin", docker=BUILDAH_AS_DOCKER)

    def outside_the_context(under_test: BuilderUnderTest) -> BuildPlan:
        # A plan CodeBuild could not build, refused before anything is uploaded.
        (under_test.context.parent / "Dockerfile").write_text(GOOD)
        return under_test.plan().model_copy(update={"dockerfile": "../Dockerfile"})

    return BuilderUnderTest(builder, registry, _context(tmp_path), play_codebuild, outside_the_context)


def _kaniko(
    request: pytest.FixtureRequest, registry: OciRegistry, tmp_path: Path, azure: bool = False
) -> BuilderUnderTest:
    """Contexts in moto's S3, or (``azure``) in a container of a real Azurite."""
    kube = KubeStandIn().__enter__()
    request.addfinalizer(kube.__exit__)
    if azure:
        container = request.getfixturevalue("container")  # tests/integration/test_kaniko_contexts.py
        store = f"{request.getfixturevalue('azurite_url')}/{container.container_name}/build-contexts"
        s3 = None
    else:
        s3 = request.getfixturevalue("s3")  # moto (reset for this test) with the bucket
        store = f"s3://{BUCKET}/build-contexts"
    builder = KanikoBuilder(
        registry, store, api_client=client_factory(kube.url), namespace="builds", s3_client=s3
    )

    def play(result: BuildResult) -> None:
        workdir = tmp_path / f"kaniko-{uuid.uuid4().hex[:6]}"
        if s3 is None:
            play_kaniko_azure(kube, result.build_id, workdir)
        else:
            play_kaniko(kube, s3, result.build_id, workdir)

    return BuilderUnderTest(builder, registry, _context(tmp_path), play)


def _fake(asynchronous: bool, tmp_path: Path) -> BuilderUnderTest:
    registry = FakeRegistry("registry.test/team/train")
    builder = FakeBuilder(registry, asynchronous=asynchronous)

    def failing(under_test: BuilderUnderTest) -> BuildPlan:
        builder.fail_with = "COPY failed: no-such-file.txt: no such file or directory"
        return under_test.plan(BROKEN)

    def finish(result: BuildResult) -> None:
        builder.finish(result.build_id)

    return BuilderUnderTest(builder, registry, _context(tmp_path), finish, failing)


BUILDING = ["buildah", "docker", "codebuild", "kaniko", "kaniko-azure", "fake", "fake-async"]


def _under_test(
    name: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> BuilderUnderTest:
    if name == "noop":
        return BuilderUnderTest(NoopBuilder(), FakeRegistry(), _context(tmp_path))
    if name.startswith("fake"):
        return _fake(name == "fake-async", tmp_path)
    request.getfixturevalue("buildah_storage")
    host = request.getfixturevalue("oci_registry")
    registry = OciRegistry(f"{host}/contract/{name}", insecure=True)
    request.addfinalizer(registry.close)
    work_dir = tmp_path / "builds"
    if name == "buildah":
        builder = BuildahBuilder(registry, work_dir=work_dir, tls_verify=False, pull="never")
        return BuilderUnderTest(builder, registry, _context(tmp_path))
    if name == "docker":
        docker = DockerBuilder(registry, work_dir=work_dir, docker=_docker_as_buildah(tmp_path, monkeypatch))
        return BuilderUnderTest(docker, registry, _context(tmp_path))
    if name.startswith("kaniko"):
        return _kaniko(request, registry, tmp_path, azure=name == "kaniko-azure")
    return _codebuild(request, registry, tmp_path)


@pytest.fixture(params=BUILDING)
def building(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> BuilderUnderTest:
    """A builder that builds (every adapter but noop)."""
    return _under_test(request.param, request, tmp_path, monkeypatch)


@pytest.fixture(params=["noop", *BUILDING])
def any_builder(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> BuilderUnderTest:
    """Every builder, noop included (the part of the contract that needs no build)."""
    return _under_test(request.param, request, tmp_path, monkeypatch)


# -- every builder ------------------------------------------------------------------------
def test_check_accepts_a_prebuilt_image(any_builder: BuilderUnderTest) -> None:
    any_builder.builder.check(make_run(docker_image="registry.test/prebuilt:1", entry_point=["train"]))


def test_check_refuses_a_run_with_nothing_to_build_naming_the_field(any_builder: BuilderUnderTest) -> None:
    with pytest.raises(InvalidInput) as refused:
        any_builder.builder.check(make_run(entry_point=["train"]))
    assert refused.value.field in {"uri", "docker_image"}
    assert refused.value.detail


def test_an_unknown_build_is_failed_and_has_no_log(any_builder: BuilderUnderTest) -> None:
    unknown = uuid.uuid4().hex
    result = any_builder.builder.status(make_run(uri="."), unknown)
    assert result.state == "failed"
    assert result.detail
    assert any_builder.builder.logs(make_run(uri="."), unknown, 7) == ("", 7)


# -- builders that build --------------------------------------------------------------------
def test_check_accepts_a_run_from_source(building: BuilderUnderTest) -> None:
    building.builder.check(make_run(uri="https://github.com/acme/train.git", entry_point=["train"]))


def test_a_plan_is_built_and_pushed_under_its_tag(building: BuilderUnderTest) -> None:
    # GIVEN a plan whose tag the registry does not hold
    run, plan = make_run(uri="."), building.plan()
    assert not building.registry.exists(plan.tag)
    # WHEN it is built (asynchronous builds settled and polled)
    started, ended = building.build(run, plan)
    # THEN the start named the plan's image, the build is ready, and the registry holds the tag
    assert started.state in {"ready", "building"}
    assert started.image_uri == plan.image_uri
    assert ended.state == "ready", ended.detail
    assert ended.image_uri in {"", plan.image_uri}  # empty: the service keeps the plan's
    assert building.registry.exists(plan.tag)
    # AND asking again tells the same
    again = building.builder.status(run, started.build_id)
    assert (again.state, again.build_id) == ("ready", ended.build_id)


def test_a_plan_that_cannot_be_built_fails_with_a_detail_and_pushes_nothing(
    building: BuilderUnderTest,
) -> None:
    run, plan = make_run(uri="."), building.breaking(building)
    _, ended = building.build(run, plan)
    assert ended.state == "failed"
    assert ended.detail.strip()
    assert not building.registry.exists(plan.tag)


def test_logs_of_a_build_come_in_order_from_an_offset(building: BuilderUnderTest) -> None:
    run = make_run(uri=".")
    started, ended = building.build(run, building.plan())
    build_id = ended.build_id or started.build_id
    text, following = building.builder.logs(run, build_id, 0)
    assert isinstance(text, str)
    assert following >= 0
    rest, after = building.builder.logs(run, build_id, following)
    assert (rest, after) == ("", following)  # an ended build's log grows no more
    if following:  # a log from a later offset is the tail of the whole one
        tail, end = building.builder.logs(run, build_id, 1)
        assert (end, text.endswith(tail)) == (following, True)


def test_a_live_log_id_names_the_build_a_synchronous_start_records(building: BuilderUnderTest) -> None:
    # GIVEN the id under which the builder would show a build of this run while it runs
    run = make_run(uri=".")
    live = building.builder.live_log_id(run)
    # WHEN the run is built
    started, ended = building.build(run, building.plan())
    # THEN an asynchronous builder has none (its builds are followed by their recorded id
    # only); a synchronous one's is the id its build records, with the same log
    if started.state == "building":
        assert live is None
    elif live is not None:
        assert live == (ended.build_id or started.build_id)
        assert building.builder.logs(run, live, 0) == building.builder.logs(run, ended.build_id, 0)
