"""W&B's ``--build-context``: images built from a sub-directory of a real source directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from launchq.build.options import BuildOptions
from launchq.domain.models import RunSpec
from launchq.errors import InvalidInput
from tests.integration.test_build_planner import plan, write_tree

pytestmark = pytest.mark.integration

MONOREPO = {
    "README.md": "two projects\n",
    "docker/Dockerfile": "FROM registry.test/base:1\nCOPY . /app\n",
    "sub/project/train.py": "print('train')\n",
    "sub/project/requirements.txt": "numpy==1.26.4\n",
    "other/eval.py": "print('eval')\n",
}
ENTRY = ["python", "train.py"]


def spec(source: Path, **fields: object) -> RunSpec:
    return RunSpec.model_validate({"uri": str(source), "entry_point": ENTRY, **fields})


def test_the_build_context_is_the_sub_directory_and_part_of_the_tag(tmp_path: Path) -> None:
    # GIVEN a source holding several projects
    source = write_tree(tmp_path / "src", MONOREPO)

    # WHEN one project is built with --build-context, and the whole source without it
    narrow = plan(spec(source, build_context="sub/project"), tmp_path / "w1")
    whole = plan(spec(source), tmp_path / "w2")

    # THEN the context holds that project only, its Dockerfile generated from its requirements
    context = Path(narrow.context_dir)
    assert sorted(p.name for p in context.iterdir()) == ["Dockerfile.launchq", "requirements.txt", "train.py"]
    assert "requirements.txt" in (context / narrow.dockerfile).read_text()
    # AND the same source built from another directory is another image
    assert narrow.tag != whole.tag
    assert narrow.tag == plan(spec(source, build_context="sub/project"), tmp_path / "w3").tag


def test_a_dockerfile_from_the_source_root_is_copied_into_the_context(tmp_path: Path) -> None:
    # GIVEN -D names a Dockerfile beside the build context (W&B: relative to the source's root)
    source = write_tree(tmp_path / "src", MONOREPO)
    options = BuildOptions(dockerfile="docker/Dockerfile")

    # WHEN planned
    built = plan(spec(source, build_context="sub/project"), tmp_path / "w", options)

    # THEN the context carries it (asynchronous builders ship only the context), unchanged
    context = Path(built.context_dir)
    assert built.dockerfile == "Dockerfile.launchq"
    assert (context / built.dockerfile).read_text() == MONOREPO["docker/Dockerfile"]
    assert not (context / "docker").exists()


def test_a_dockerfile_inside_the_context_is_used_in_place(tmp_path: Path) -> None:
    source = write_tree(
        tmp_path / "src", {**MONOREPO, "sub/project/Dockerfile": "FROM registry.test/own:2\n"}
    )

    by_default = plan(spec(source, build_context="sub/project"), tmp_path / "w1")
    named = plan(
        spec(source, build_context="sub"), tmp_path / "w2", BuildOptions(dockerfile="sub/project/Dockerfile")
    )

    assert by_default.dockerfile == "Dockerfile"
    assert named.dockerfile == "project/Dockerfile"
    assert not (Path(named.context_dir) / "Dockerfile.launchq").exists()


@pytest.mark.parametrize(
    ("build_context", "reason"),
    [
        ("escape", "is outside the source"),
        ("README.md", "is not a directory in the source"),
        ("missing", "is not a directory in the source"),
    ],
)
def test_a_build_context_that_is_not_a_directory_of_the_source_is_refused(
    tmp_path: Path, build_context: str, reason: str
) -> None:
    # GIVEN a source with a link that leads out of it
    outside = tmp_path / "outside"
    outside.mkdir()
    source = write_tree(tmp_path / "src", MONOREPO)
    (source / "escape").symlink_to(outside, target_is_directory=True)

    # WHEN planned with a build context that is no directory inside it
    with pytest.raises(InvalidInput) as raised:
        plan(spec(source, build_context=build_context), tmp_path / "w")

    # THEN the build is refused naming build_context
    assert raised.value.field == "build_context"
    assert reason in raised.value.detail


@pytest.mark.parametrize("build_context", ["../x", "/etc", "a/../../b", "sub\\..\\..", ""])
def test_a_run_refuses_a_build_context_out_of_the_source(build_context: str) -> None:
    with pytest.raises(ValueError, match="build_context"):
        RunSpec(build_context=build_context)
