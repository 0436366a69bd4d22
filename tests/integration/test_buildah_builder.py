"""The buildah builder for real: buildah builds (``--isolation chroot``) from a base image
made locally and pushes to Debian's docker-registry; the result is checked in the
registry (``OciRegistry.exists``, ``skopeo inspect`` and the pushed layers themselves)."""

from __future__ import annotations

import json
import subprocess
import tarfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from launchq.adapters.builders.buildah import BuildahBuilder, buildah_available
from launchq.adapters.builders.cli_build import REDACTED, secret_forms
from launchq.adapters.registries import OciRegistry
from launchq.domain.models import Run, RunSpec
from launchq.errors import InvalidInput
from launchq.ports import BuildPlan, BuildResult, RegistryCredentials
from tests.registry_servers import docker_registry

pytestmark = pytest.mark.integration


def make_run(**spec: str) -> Run:
    now = datetime.now(UTC)
    spec.setdefault("uri", "https://github.com/example/train.git")
    return Run(
        id=uuid.uuid4().hex[:16], queue="q", entity="e", spec=RunSpec(**spec), created_at=now, updated_at=now
    )


def make_context(root: Path, dockerfile: str) -> Path:
    context = root / f"ctx-{uuid.uuid4().hex[:8]}"
    context.mkdir(parents=True)
    (context / "hello.txt").write_text("hello from the context\n")
    (context / "Dockerfile").write_text(dockerfile)
    return context


def plan_for(registry: OciRegistry, context: Path) -> BuildPlan:
    tag = uuid.uuid4().hex[:12]
    return BuildPlan(
        image_uri=registry.image_uri(tag), tag=tag, context_dir=str(context), dockerfile="Dockerfile"
    )


def pushed_files(image: str, into: Path) -> dict[str, bytes]:
    """Every regular file of the pushed image's layers, read back from the registry."""
    subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false", f"docker://{image}", f"dir:{into}"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    manifest = json.loads((into / "manifest.json").read_text())
    files: dict[str, bytes] = {}
    for layer in manifest["layers"]:
        with tarfile.open(into / layer["digest"].removeprefix("sha256:")) as tar:
            for member in tar.getmembers():
                extracted = tar.extractfile(member) if member.isfile() else None
                if extracted is not None:
                    files[member.name.lstrip("./")] = extracted.read()
    return files


def test_buildah_is_available_here() -> None:
    assert buildah_available()


def test_build_is_pushed_under_the_plan_tag(tmp_path: Path, oci_registry: str, base_image: str) -> None:
    # GIVEN a context building on the local base image
    registry = OciRegistry(f"{oci_registry}/team/app", insecure=True)
    builder = BuildahBuilder(registry, work_dir=tmp_path / "builds", tls_verify=False)
    context = make_context(
        tmp_path, f"FROM {base_image}\nCOPY hello.txt /hello.txt\nRUN echo built > /built\n"
    )
    plan = plan_for(registry, context)
    run = make_run()
    assert not registry.exists(plan.tag)

    # WHEN it is built
    result = builder.start(run, plan)

    # THEN the image is in the registry under the plan's tag, with the RUN step's output
    assert result == BuildResult(state="ready", image_uri=plan.image_uri, build_id=run.id), result.detail
    assert registry.exists(plan.tag)
    inspected = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{plan.image_uri}"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(inspected.stdout)["Architecture"] == "amd64"
    files = pushed_files(plan.image_uri, tmp_path / "pulled")
    assert files["built"] == b"built\n"
    assert files["hello.txt"] == b"hello from the context\n"
    # AND status and logs answer from what was recorded
    assert builder.status(run, run.id) == result
    text, offset = builder.logs(run, run.id)
    assert "$ buildah bud --isolation chroot --pull=missing" in text
    assert f"$ buildah push --tls-verify=false {plan.image_uri}" in text
    assert offset == (tmp_path / "builds" / run.id / "build.log").stat().st_size
    assert builder.logs(run, run.id, offset) == ("", offset)


def test_failing_run_step_fails_with_its_output(tmp_path: Path, oci_registry: str, base_image: str) -> None:
    registry = OciRegistry(f"{oci_registry}/team/app", insecure=True)
    builder = BuildahBuilder(registry, work_dir=tmp_path / "builds", tls_verify=False)
    context = make_context(tmp_path, f"FROM {base_image}\nRUN echo pip-exploded-here && exit 3\n")
    plan = plan_for(registry, context)
    run = make_run()

    result = builder.start(run, plan)

    assert result.state == "failed"
    assert result.build_id == run.id
    assert "pip-exploded-here" in result.detail
    assert "`buildah bud` exited with status" in result.detail
    assert len(result.detail.splitlines()) <= 30
    assert not registry.exists(plan.tag)
    assert builder.status(run, run.id) == result
    assert "pip-exploded-here" in builder.logs(run, run.id)[0]


def test_push_to_a_registry_with_credentials_uses_an_auth_file(tmp_path: Path, buildah_storage: Path) -> None:
    # GIVEN a registry requiring a password
    password = f"pw-{uuid.uuid4().hex}"
    with docker_registry(tmp_path / "secure-registry", users={"ci": password}) as host:
        credentials = RegistryCredentials(username="ci", password=password, server=host)
        registry = OciRegistry(f"{host}/secure/app", insecure=True, credentials=credentials)
        builder = BuildahBuilder(registry, work_dir=tmp_path / "builds", tls_verify=False, pull="never")
        context = make_context(tmp_path, "FROM scratch\nCOPY hello.txt /hello.txt\n")
        plan = plan_for(registry, context)
        run = make_run()

        result = builder.start(run, plan)

        assert result.state == "ready", result.detail
        assert registry.exists(plan.tag)
    # THEN the password is in neither the log (which shows every command line) nor the result
    log = (tmp_path / "builds" / run.id / "build.log").read_bytes()
    assert b"--authfile" in log
    for secret in secret_forms(credentials):
        assert secret not in log
        assert secret.decode() not in result.model_dump_json()
    assert REDACTED not in log  # nothing needed scrubbing: the secret never left the auth file
    # AND the auth file is gone with its private directory
    auth_file = log.split(b"--authfile ", 1)[1].split(b" ", 1)[0].decode()
    assert not Path(auth_file).exists()
    assert not Path(auth_file).parent.exists()


def test_missing_buildah_fails_with_a_reason(tmp_path: Path) -> None:
    registry = OciRegistry("127.0.0.1:5000/team/app", insecure=True)
    builder = BuildahBuilder(registry, work_dir=tmp_path, buildah=str(tmp_path / "no-such-buildah"))
    run = make_run()
    result = builder.start(run, plan_for(registry, tmp_path))
    assert result.state == "failed"
    assert "buildah is not installed" in result.detail
    assert builder.status(run, run.id) == result


def test_check_needs_a_source_without_an_image(tmp_path: Path) -> None:
    builder = BuildahBuilder(OciRegistry("127.0.0.1:5000/team/app", insecure=True), work_dir=tmp_path)
    builder.check(make_run())
    builder.check(make_run(uri="", docker_image="127.0.0.1:5000/team/app:1"))
    with pytest.raises(InvalidInput) as error:
        builder.check(make_run(uri=""))
    assert error.value.field == "uri"
