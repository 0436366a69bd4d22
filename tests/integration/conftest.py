"""Fixtures of the integration tests: a real OCI registry and a locally made base image.

No base image can be pulled here, so ``base_image`` builds one ``FROM scratch`` with the
static busybox of Debian's ``busybox-static`` (``busybox --install -s /bin`` gives it a
shell) and pushes it to the session's registry. buildah keeps its images in a storage
of its own for the session (``CONTAINERS_STORAGE_CONF``), never in the machine's.
Missing tools fail the tests that need them; nothing skips.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.registry_servers import docker_registry

BUSYBOX = Path("/bin/busybox")


def _require(executable: str, package: str) -> str:
    found = shutil.which(executable)
    if found is None:
        pytest.fail(f"{executable} is not installed (apt-get install {package}); run `make setup`")
    return found


@pytest.fixture(scope="session")
def buildah_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A buildah/containers storage of the session's own (vfs: works on any filesystem)."""
    root = tmp_path_factory.mktemp("containers-storage")
    conf = root / "storage.conf"
    conf.write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{root / "graph"}"\nrunroot = "{root / "run"}"\n'
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONTAINERS_STORAGE_CONF", str(conf))
        yield root


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's docker-registry on a free port (plain HTTP); yields its ``127.0.0.1:PORT``."""
    _require("docker-registry", "docker-registry")
    with docker_registry(tmp_path_factory.mktemp("registry")) as host:
        yield host


@pytest.fixture(scope="session")
def base_image(oci_registry: str, buildah_storage: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``<registry>/base:1``: busybox on scratch, built and pushed with buildah."""
    buildah = _require("buildah", "buildah")
    if not BUSYBOX.exists():
        pytest.fail("/bin/busybox is missing (apt-get install busybox-static); run `make setup`")
    context = tmp_path_factory.mktemp("base-image")
    shutil.copy(BUSYBOX, context / "busybox")
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
    )
    image = f"{oci_registry}/base:1"
    _build_and_push(buildah, context, image)
    return image


@pytest.fixture(scope="session")
def python_base_image(
    base_image: str, buildah_storage: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """``<registry>/python:3.11-local``: the busybox base with stand-in ``python`` and ``pip``
    (shell scripts that record their arguments), so generated Dockerfiles build here with
    no image pulled; the images are never run."""
    buildah = _require("buildah", "buildah")
    context = tmp_path_factory.mktemp("python-base")
    (context / "pip").write_text('#!/bin/sh\necho "pip $*" >> /pip.log\n')
    (context / "python").write_text('#!/bin/sh\necho "python $*"\n')
    (context / "Dockerfile").write_text(
        f"FROM {base_image}\nCOPY --chmod=755 pip python /usr/local/bin/\nRUN mkdir -p /app /tmp\n"
    )
    image = base_image.rsplit("/", 1)[0] + "/python:3.11-local"
    _build_and_push(buildah, context, image)
    return image


def buildah_sagemaker_configs(directory: Path, registry_uri: str, base_image: str) -> tuple[Path, Path]:
    """A workstation's ``launch-config.yaml`` (AWS, images built with buildah and pushed to
    ``registry_uri``) and a SageMaker queue config building from ``base_image``, written
    into ``directory``: (launch config, queue config)."""
    config = directory / "launch-config.yaml"
    config.write_text(
        "environment: {type: aws, region: us-east-1}\n"
        f"registry: {{type: oci, uri: {registry_uri}}}\n"
        "builder: {type: buildah}\n"
    )
    queue_config = directory / "sagemaker.yaml"
    queue_config.write_text(
        "RoleArn: arn:aws:iam::123456789012:role/training\n"
        "ResourceConfig: {InstanceType: ml.m5.xlarge, InstanceCount: 1, VolumeSizeInGB: 10}\n"
        "OutputDataConfig: {S3OutputPath: 's3://bucket/out'}\n"
        f"builder: {{base_image: '{base_image}'}}\n"
    )
    return config, queue_config


def _build_and_push(buildah: str, context: Path, image: str) -> None:
    """Build ``context`` with nothing pulled and push it to the session's plain-HTTP registry."""
    build = [
        buildah,
        "bud",
        "--isolation",
        "chroot",
        "--pull=never",
        "--format",
        "docker",
        "-t",
        image,
        str(context),
    ]
    for argv in (build, [buildah, "push", "--tls-verify=false", image]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
