"""Build plans from real git repositories, directories and uploaded tarballs."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest

from launchq.adapters.code_stores.local import LocalCodeStore
from launchq.build.dockerfile import render_dockerfile
from launchq.build.options import BuildOptions
from launchq.build.planner import plan_build
from launchq.build.source import directory_digest
from launchq.build.tag import content_tag
from launchq.domain.models import RunSpec
from launchq.errors import InvalidInput
from launchq.ports import BuildPlan, Registry, RegistryCredentials
from tests.helpers import commit, init_repo

pytestmark = pytest.mark.integration

PY311 = BuildOptions(python_version="3.11")


class FakeRegistry(Registry):
    """A registry that holds nothing and needs no login."""

    type = "fake"

    def image_uri(self, tag: str) -> str:
        return f"registry.test/repo:{tag}"

    def exists(self, tag: str) -> bool:
        return False

    def credentials(self) -> RegistryCredentials | None:
        return None


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def plan(
    spec: RunSpec, workdir: Path, options: BuildOptions = PY311, store: LocalCodeStore | None = None
) -> BuildPlan:
    return plan_build(spec, options, FakeRegistry(), workdir, store)


PROJECT = {"train.py": "print('train')\n", "requirements.txt": "numpy==1.26.4\n"}


# -- git sources ------------------------------------------------------------------------------
def test_git_source_at_two_commits_gives_two_stable_tags(tmp_path: Path) -> None:
    # GIVEN a repository with two commits
    repo = init_repo(tmp_path / "repo")
    first = commit(repo, PROJECT, "one")
    second = commit(repo, {"train.py": "print('train v2')\n"}, "two")
    entry = ["python", "train.py"]

    # WHEN each commit is planned, and the first one again in a fresh workdir
    plan_one = plan(RunSpec(uri=str(repo), git_version=first, entry_point=entry), tmp_path / "w1")
    plan_two = plan(RunSpec(uri=str(repo), git_version=second, entry_point=entry), tmp_path / "w2")
    plan_again = plan(RunSpec(uri=str(repo), git_version=first, entry_point=entry), tmp_path / "w3")

    # THEN the commits get different tags, the same commit the same tag, named by the registry
    assert plan_one.tag != plan_two.tag
    assert plan_one.tag == plan_again.tag
    assert re.fullmatch(r"[0-9a-f]{16,}", plan_one.tag)
    assert plan_one.image_uri == f"registry.test/repo:{plan_one.tag}"
    # AND the tag is the hash of the commit, the generated Dockerfile, its base and the platform
    context = Path(plan_one.context_dir)
    text = (context / plan_one.dockerfile).read_text()
    assert plan_one.dockerfile == "Dockerfile.launchq"
    assert text == render_dockerfile(context, PY311, entry)
    assert plan_one.tag == content_tag(f"git:{first}", text, "python:3.11-slim", "linux/amd64")
    assert (context / "train.py").read_text() == "print('train')\n"
    assert not (context / ".git").exists()


def test_platform_changes_the_tag(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    head = commit(repo, PROJECT, "one")
    spec = RunSpec(uri=str(repo), git_version=head)

    amd = plan(spec, tmp_path / "amd")
    arm = plan(spec, tmp_path / "arm", BuildOptions(python_version="3.11", platform="linux/arm64"))

    assert amd.tag != arm.tag
    assert (amd.platform, arm.platform) == ("linux/amd64", "linux/arm64")


# -- what goes into the Dockerfile -------------------------------------------------------------
def test_requirements_change_changes_the_tag(tmp_path: Path) -> None:
    # GIVEN a project directory
    source = write_tree(tmp_path / "src", PROJECT)
    spec = RunSpec(uri=str(source), entry_point=["python", "train.py"])
    before = plan(spec, tmp_path / "w1")

    # WHEN only requirements.txt changes
    (source / "requirements.txt").write_text("numpy==2.0.0\n")
    after = plan(spec, tmp_path / "w2")

    # THEN the image tag changes; planning unchanged code again does not
    assert before.tag != after.tag
    assert plan(spec, tmp_path / "w3").tag == after.tag


def test_entry_point_and_base_image_change_the_tag(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "src", PROJECT)

    base = plan(RunSpec(uri=str(source), entry_point=["python", "train.py"]), tmp_path / "w1")
    other_entry = plan(RunSpec(uri=str(source), entry_point=["python", "eval.py"]), tmp_path / "w2")
    cuda = BuildOptions.model_validate(
        {"accelerator": {"base_image": "nvidia/cuda:12.4.1-runtime-ubuntu22.04"}}
    )
    accelerated = plan(RunSpec(uri=str(source), entry_point=["python", "train.py"]), tmp_path / "w3", cuda)

    assert len({base.tag, other_entry.tag, accelerated.tag}) == 3
    assert (
        "FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04"
        in (Path(accelerated.context_dir) / accelerated.dockerfile).read_text()
    )


# -- the source's own Dockerfile ----------------------------------------------------------------
OWN_DOCKERFILE = "ARG X=1\nFROM --platform=$BUILDPLATFORM ghcr.io/acme/base:1.2 AS build\nCOPY . /src\n"


def test_own_dockerfile_wins_and_its_from_is_the_base_image(tmp_path: Path) -> None:
    # GIVEN a source that brings its own Dockerfile
    source = write_tree(tmp_path / "src", {**PROJECT, "Dockerfile": OWN_DOCKERFILE})

    # WHEN it is planned with options that would otherwise generate a CUDA Dockerfile
    cuda = BuildOptions.model_validate(
        {"accelerator": {"base_image": "nvidia/cuda:12.4.1-runtime-ubuntu22.04"}}
    )
    result = plan(RunSpec(uri=str(source), entry_point=["python", "train.py"]), tmp_path / "w", cuda)

    # THEN the source's Dockerfile is used, nothing is generated, and its FROM image is hashed
    context = Path(result.context_dir)
    assert result.dockerfile == "Dockerfile"
    assert not (context / "Dockerfile.launchq").exists()
    expected = content_tag(
        f"dir:{directory_digest(source)}", OWN_DOCKERFILE, "ghcr.io/acme/base:1.2", "linux/amd64"
    )
    assert result.tag == expected


def test_dockerfile_option_picks_a_file_inside_the_source(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "src", {**PROJECT, "docker/train.Dockerfile": "FROM python:3.12\n"})

    result = plan(
        RunSpec(uri=str(source)), tmp_path / "w", BuildOptions(dockerfile="docker/train.Dockerfile")
    )

    assert result.dockerfile == "docker/train.Dockerfile"


def test_dockerfile_option_outside_the_source_is_refused(tmp_path: Path) -> None:
    # GIVEN a Dockerfile next to, not inside, the source
    source = write_tree(tmp_path / "src", PROJECT)
    (tmp_path / "Dockerfile").write_text("FROM evil\n")

    # WHEN -D points at it
    with pytest.raises(InvalidInput) as caught:
        plan(RunSpec(uri=str(source)), tmp_path / "w", BuildOptions(dockerfile="../Dockerfile"))

    # THEN the plan is refused naming the dockerfile option
    assert caught.value.field == "dockerfile"


# -- uploaded code -----------------------------------------------------------------------------
def test_uploaded_tarball_is_planned_by_its_content(tmp_path: Path) -> None:
    # GIVEN a tarball uploaded to the code store
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in PROJECT.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    store = LocalCodeStore(tmp_path / "code")
    ref = store.put(buffer.getvalue())

    # WHEN it is planned twice
    first = plan(RunSpec(uri=ref, entry_point=["python", "train.py"]), tmp_path / "w1", store=store)
    second = plan(RunSpec(uri=ref, entry_point=["python", "train.py"]), tmp_path / "w2", store=store)

    # THEN the context holds its files, the requirements layer is generated, and the tag is stable
    context = Path(first.context_dir)
    assert (context / "train.py").read_text() == "print('train')\n"
    assert "RUN pip install --no-cache-dir -r requirements.txt" in (context / first.dockerfile).read_text()
    assert first.tag == second.tag
    text = (context / first.dockerfile).read_text()
    assert first.tag == content_tag(f"code:{store.digest(ref)}", text, "python:3.11-slim", "linux/amd64")


def test_a_build_without_a_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        plan(RunSpec(docker_image="python:3.11"), tmp_path / "w")
    assert caught.value.field == "uri"
