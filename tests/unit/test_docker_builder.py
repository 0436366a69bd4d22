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
from typing import Any

import pytest

from launchq.adapters.builders.cli_build import REDACTED
from launchq.adapters.builders.docker import DockerBuilder, docker_engine_available
from launchq.adapters.registries import ArtifactRegistry, OciRegistry
from launchq.domain.models import Run, RunSpec
from launchq.errors import BackendUnavailable, InvalidInput
from launchq.ports import BuildPlan, BuildResult, RegistryCredentials

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
