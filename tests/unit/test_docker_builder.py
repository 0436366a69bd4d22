"""The docker builder at its client boundary.

No Docker engine runs on this machine, so a fake ``docker`` executable -- a small Python
script first on PATH -- records each call's argv and stdin to a file and exits 0 (or 1
for the subcommand named in ``FAKE_DOCKER_FAIL``). The tests check the command lines,
that the password travels on stdin only, and that the real engine is reported absent.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from launchq.adapters.builders.cli_build import REDACTED
from launchq.adapters.builders.docker import DockerBuilder, docker_engine_available
from launchq.adapters.registries import ArtifactRegistry, OciRegistry
from launchq.bootstrap import Services
from launchq.domain.launch_config import parse_launch_config
from launchq.domain.models import Run, RunSpec
from launchq.errors import BackendUnavailable, InvalidInput
from launchq.local.build_wiring import builder_for, registry_for
from launchq.ports import BuildPlan, BuildResult, Registry, RegistryCredentials
from launchq.service.queues import QueueCreate
from tests.unit.fakes import FakeTarget

SERVER = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
IMAGE = f"{SERVER}/team/train:abc123"

FAKE_DOCKER = """\
#!{python}
import json, os, sys, time
args = sys.argv[1:]
rest = args[2:] if args[:1] == ["--config"] else args
command = rest[0] if rest else ""
stdin = "" if command != "login" else sys.stdin.read()
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps({{"argv": args, "stdin": stdin,
        "config_exists": os.path.isdir(args[1]) if args[:1] == ["--config"] else None}}) + "\\n")
if command == "login":
    print("Login: received " + stdin)  # a careless tool echoing the secret
print("fake docker " + command)
if command == os.environ.get("FAKE_DOCKER_HANG"):
    sys.stdout.flush()
    time.sleep(60)
if command == os.environ.get("FAKE_DOCKER_FAIL"):
    print("step failed: boom", file=sys.stderr)
    sys.exit(1)
"""


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the fake docker first on PATH; returns the file its calls are recorded in."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(FAKE_DOCKER.format(python=sys.executable))
    script.chmod(0o755)
    calls = tmp_path / "docker-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(calls))
    return calls


def recorded(calls: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


def make_run(**spec: str) -> Run:
    now = datetime.now(UTC)
    return Run(
        id=uuid.uuid4().hex[:16], queue="q", entity="e", spec=RunSpec(**spec), created_at=now, updated_at=now
    )


@pytest.fixture
def plan(tmp_path: Path) -> BuildPlan:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\n")
    return BuildPlan(
        image_uri=IMAGE,
        tag="abc123",
        context_dir=str(context),
        dockerfile="Dockerfile",
        platform="linux/arm64",
    )


def with_credentials(password: str) -> OciRegistry:
    credentials = RegistryCredentials(username="AWS", password=password, server=SERVER)
    return OciRegistry(f"{SERVER}/team/train", credentials=credentials)


def test_no_docker_engine_runs_here() -> None:
    assert not docker_engine_available(timeout=10)


def test_engine_available_when_docker_info_succeeds(fake_docker: Path) -> None:
    assert docker_engine_available()
    assert recorded(fake_docker)[0]["argv"] == ["info"]


def test_engine_unavailable_without_a_docker_executable(tmp_path: Path) -> None:
    assert not docker_engine_available(str(tmp_path / "no-docker"))


def test_login_build_push_with_the_password_on_stdin(
    tmp_path: Path, fake_docker: Path, plan: BuildPlan
) -> None:
    # GIVEN a registry with short-lived credentials
    password = f"ecr-token-{uuid.uuid4().hex}"
    builder = DockerBuilder(with_credentials(password), work_dir=tmp_path / "builds")
    run = make_run(uri="https://github.com/example/train.git")

    # WHEN it builds
    result = builder.start(run, plan)

    # THEN login (password on stdin), build, push -- all against one private config dir
    assert result == BuildResult(state="ready", image_uri=IMAGE, build_id=run.id)
    login, build, push = recorded(fake_docker)
    config = login["argv"][1]
    assert login["argv"] == ["--config", config, "login", "--username", "AWS", "--password-stdin", SERVER]
    assert login["stdin"] == password
    assert login["config_exists"]
    assert build["argv"] == [
        "--config",
        config,
        "build",
        "--platform",
        "linux/arm64",
        "-f",
        str(Path(plan.context_dir) / "Dockerfile"),
        "-t",
        IMAGE,
        plan.context_dir,
    ]
    assert build["stdin"] == ""
    assert push["argv"] == ["--config", config, "push", IMAGE]
    assert not Path(config).exists()  # the login's config dir is gone with the build
    assert all(password not in " ".join(call["argv"]) for call in (login, build, push))
    # AND the echoed password was scrubbed from the log
    log = builder.logs(run, run.id)[0]
    assert password not in log
    assert f"Login: received {REDACTED.decode()}" in log
    assert "$ docker --config" in log


def test_open_registry_needs_no_login(tmp_path: Path, fake_docker: Path, plan: BuildPlan) -> None:
    registry = OciRegistry("127.0.0.1:5000/team/train", insecure=True)
    builder = DockerBuilder(registry, work_dir=tmp_path / "builds", pull="always")
    plan = plan.model_copy(update={"image_uri": "127.0.0.1:5000/team/train:abc123"})
    assert builder.start(make_run(uri="."), plan).state == "ready"
    build, push = recorded(fake_docker)
    assert build["argv"][:4] == ["build", "--platform", "linux/arm64", "--pull"]
    assert push["argv"] == ["push", "127.0.0.1:5000/team/train:abc123"]


def test_failed_build_stops_before_push(
    tmp_path: Path, fake_docker: Path, plan: BuildPlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_DOCKER_FAIL", "build")
    password = f"ecr-token-{uuid.uuid4().hex}"
    builder = DockerBuilder(with_credentials(password), work_dir=tmp_path / "builds")
    run = make_run(uri=".")

    result = builder.start(run, plan)

    assert result.state == "failed"
    assert "step failed: boom" in result.detail
    assert "`docker build` exited with status 1" in result.detail
    assert password not in result.detail
    assert [call["argv"][2] for call in recorded(fake_docker)] == ["login", "build"]
    assert builder.status(run, run.id) == result


def test_failed_login_fails_the_build(
    tmp_path: Path, fake_docker: Path, plan: BuildPlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_DOCKER_FAIL", "login")
    builder = DockerBuilder(with_credentials("pw-1"), work_dir=tmp_path / "builds")
    result = builder.start(make_run(uri="."), plan)
    assert result.state == "failed"
    assert "`docker login` exited with status 1" in result.detail
    assert len(recorded(fake_docker)) == 1


def test_missing_docker_fails_with_a_reason(tmp_path: Path, plan: BuildPlan) -> None:
    registry = OciRegistry("127.0.0.1:5000/team/train", insecure=True)
    builder = DockerBuilder(registry, work_dir=tmp_path, docker=str(tmp_path / "no-docker"))
    result = builder.start(make_run(uri="."), plan)
    assert result.state == "failed"
    assert "docker is not installed" in result.detail


def test_status_and_logs_of_an_unknown_build(tmp_path: Path) -> None:
    builder = DockerBuilder(OciRegistry("127.0.0.1:5000/a", insecure=True), work_dir=tmp_path)
    run = make_run(uri=".")
    assert builder.status(run, "nothing-here").state == "failed"
    assert builder.logs(run, "nothing-here", 7) == ("", 7)
    with pytest.raises(InvalidInput):
        builder.logs(run, "../escape")


def test_check_needs_a_source_without_an_image(tmp_path: Path) -> None:
    builder = DockerBuilder(OciRegistry("127.0.0.1:5000/a", insecure=True), work_dir=tmp_path)
    builder.check(make_run(uri="."))
    builder.check(make_run(docker_image="127.0.0.1:5000/a:1"))
    with pytest.raises(InvalidInput) as error:
        builder.check(make_run())
    assert error.value.field == "uri"


def test_unavailable_credentials_raise_and_are_logged(
    tmp_path: Path, fake_docker: Path, plan: BuildPlan
) -> None:
    def no_token() -> str:
        raise BackendUnavailable("Google credentials: DefaultCredentialsError: none found")

    registry = ArtifactRegistry("us-central1-docker.pkg.dev/proj/repo/img", token_provider=no_token)
    builder = DockerBuilder(registry, work_dir=tmp_path / "builds")
    run = make_run(uri=".")
    with pytest.raises(BackendUnavailable, match="none found"):
        builder.start(run, plan)
    assert "no push credentials from the gcr registry" in builder.logs(run, run.id)[0]
    assert recorded(fake_docker) == []


def test_a_hung_step_is_killed_after_the_timeout(
    tmp_path: Path, fake_docker: Path, plan: BuildPlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_DOCKER_HANG", "build")
    registry = OciRegistry("127.0.0.1:5000/team/train", insecure=True)
    builder = DockerBuilder(registry, work_dir=tmp_path / "builds", timeout=1)
    started = time.monotonic()
    result = builder.start(make_run(uri="."), plan)
    assert time.monotonic() - started < 30
    assert result.state == "failed"
    assert "timed out after 1s" in result.detail
    assert "fake docker build" in result.detail


# -- launch-config.yaml's builder.platform and builder.destination, as W&B users write them --


class _NothingPushedYet(Registry):
    """The registry launch-config made, with no tag in it yet (no registry server here)."""

    type: ClassVar[str] = "oci"

    def __init__(self, inner: Registry) -> None:
        self.inner = inner

    def image_uri(self, tag: str) -> str:
        return self.inner.image_uri(tag)

    def exists(self, tag: str) -> bool:
        return False

    def credentials(self) -> RegistryCredentials | None:
        return None


class _ImageTarget(FakeTarget):
    """A target that runs images (like sagemaker): runs with a source are built first."""

    resource: ClassVar[str] = "images"
    needs_image: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.images: dict[str, str | None] = {}

    def submit(self, run: Run) -> dict[str, str]:
        self.images[run.id] = run.spec.docker_image
        return super().submit(run)


def _wandb_services(tmp_path: Path, launch_config: str) -> tuple[Services, _ImageTarget]:
    """Services wired from a launch-config.yaml the way ``launchq serve -c`` wires them."""
    from launchq.adapters.doorbells.inprocess import InProcessDoorbell
    from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
    from launchq.adapters.stores.memory import MemoryRunStore
    from launchq.bootstrap import build_services
    from launchq.service.context import Context
    from launchq.service.targets import TargetCatalog

    config = parse_launch_config(launch_config, "launch-config.yaml")
    registry = registry_for(config)
    assert registry is not None
    target = _ImageTarget()
    ctx = Context(
        store=MemoryRunStore(),
        doorbell=InProcessDoorbell(),
        targets=TargetCatalog({target.resource: target}),
        builder=builder_for(config, registry, tmp_path / "work"),
        trigger=ReconcilerOnlyTrigger(),
        registry=_NothingPushedYet(registry),
        build_dir=tmp_path / "builds",
    )
    return build_services(ctx), target


def _source(tmp_path: Path) -> str:
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text("print('training')\n")
    return str(source)


def _built_argv(calls: Path) -> list[str]:
    builds = [call["argv"] for call in recorded(calls) if "build" in call["argv"]]
    assert len(builds) == 1, recorded(calls)
    return list(builds[0])


def test_builder_platform_and_destination_are_honoured(tmp_path: Path, fake_docker: Path) -> None:
    # GIVEN W&B's newer agent config: no registry block, the repository and platform on the builder
    svc, target = _wandb_services(
        tmp_path,
        "max_jobs: '2'\nbuilder:\n  type: docker\n  destination: 127.0.0.1:5000/team/train\n"
        "  platform: linux/arm64\n",
    )
    svc.queues.create(QueueCreate(name="q", resource="images"))
    run, _ = svc.runs.enqueue("q", RunSpec(uri=_source(tmp_path), entry_point=["python", "train.py"]))
    # WHEN the run is dispatched
    svc.dispatcher.dispatch("q")
    # THEN docker built for the configured platform, tagged into the destination repository
    argv = _built_argv(fake_docker)
    assert argv[argv.index("--platform") + 1] == "linux/arm64"
    image = target.images[run.id]
    assert image is not None
    assert image.startswith("127.0.0.1:5000/team/train:")
    assert argv[argv.index("-t") + 1] == image


def test_a_queue_platform_wins_over_the_builders_and_changes_the_tag(
    tmp_path: Path, fake_docker: Path
) -> None:
    # GIVEN the builder defaults to arm64, one queue asks for amd64 and one says nothing
    svc, target = _wandb_services(
        tmp_path, "builder: {type: docker, destination: 127.0.0.1:5000/team/train, platform: linux/arm64}\n"
    )
    svc.queues.create(QueueCreate(name="arm", resource="images"))
    svc.queues.create(
        QueueCreate(name="amd", resource="images", config={"builder": {"platform": "linux/amd64"}})
    )
    spec = RunSpec(uri=_source(tmp_path), entry_point=["python", "train.py"])
    arm, _ = svc.runs.enqueue("arm", spec)
    amd, _ = svc.runs.enqueue("amd", spec)
    # WHEN both are built from the very same source
    svc.dispatcher.dispatch("arm")
    arm_argv = _built_argv(fake_docker)
    fake_docker.unlink()
    svc.dispatcher.dispatch("amd")
    amd_argv = _built_argv(fake_docker)
    # THEN each is built for its own platform, and the platform is part of the content tag
    assert arm_argv[arm_argv.index("--platform") + 1] == "linux/arm64"
    assert amd_argv[amd_argv.index("--platform") + 1] == "linux/amd64"
    assert target.images[arm.id] != target.images[amd.id]
