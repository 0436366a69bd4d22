"""Build sources against real tarballs, real git repositories and a real code store directory."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from launchq.adapters.code_stores.local import LocalCodeStore
from launchq.build.source import directory_digest, prepare_source
from launchq.build.tarball import pack_context, safe_extract
from launchq.domain.code_ref import is_code_ref
from launchq.domain.models import RunSpec
from launchq.errors import InvalidInput, LaunchFailed, NotFound
from tests.helpers import commit, init_repo

pytestmark = pytest.mark.integration

Member = tuple[tarfile.TarInfo, bytes | None]


# -- helpers -----------------------------------------------------------------------------------
def regular(name: str, data: bytes = b"data") -> Member:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def directory(name: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, None


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def special(name: str, kind: bytes) -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.devmajor, info.devminor = 1, 3
    return info, None


def tar_bytes(*members: Member, mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def write_tar(path: Path, *members: Member, mode: str = "w:gz") -> Path:
    path.write_bytes(tar_bytes(*members, mode=mode))
    return path


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".extract-"))


# -- safe_extract: refusals -------------------------------------------------------------------
REFUSED: dict[str, Callable[[], list[Member]]] = {
    "traversal": lambda: [regular("../x")],
    "nested-traversal": lambda: [directory("a"), regular("a/../../x")],
    "absolute": lambda: [regular("/tmp/launchq-absolute-x")],
    "symlink-to-etc-passwd": lambda: [link("link", "/etc/passwd")],
    "symlink-up-and-out": lambda: [directory("dir"), link("dir/link", "../../x")],
    "hardlink-absolute": lambda: [link("h", "/etc/passwd", tarfile.LNKTYPE)],
    "hardlink-out": lambda: [link("h", "../x", tarfile.LNKTYPE)],
    "character-device": lambda: [special("null", tarfile.CHRTYPE)],
    "block-device": lambda: [special("disk", tarfile.BLKTYPE)],
    "fifo": lambda: [special("pipe", tarfile.FIFOTYPE)],
    "write-through-symlink": lambda: [directory("sub"), link("l", "sub"), regular("l/x")],
    "file-replaced-by-symlink": lambda: [regular("a"), link("a", "b")],
    "symlink-chain-escape": lambda: [directory("sub"), link("l1", "sub/l2/../.."), link("sub/l2", ".")],
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_unsafe_archive_is_refused_and_nothing_is_extracted(tmp_path: Path, case: str) -> None:
    # GIVEN an archive with an unsafe member, plus a harmless file before it
    archive = write_tar(tmp_path / "code.tgz", regular("ok.txt"), *REFUSED[case]())
    dest = tmp_path / "work" / "context"

    # WHEN it is extracted
    with pytest.raises(InvalidInput) as caught:
        safe_extract(archive, dest)

    # THEN it is refused naming the field, and nothing is left: no dest, no staging, nothing outside
    assert caught.value.field == "uri"
    assert "refused" in caught.value.detail
    assert not dest.exists()
    assert leftovers(dest.parent) == []
    assert not (tmp_path / "x").exists()
    assert not (tmp_path / "work" / "x").exists()
    assert not Path("/tmp/launchq-absolute-x").exists()


def test_refusal_names_the_member(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "a.tgz", regular("../escape.txt"))

    with pytest.raises(InvalidInput) as caught:
        safe_extract(archive, tmp_path / "out", field="code")

    assert caught.value.field == "code"
    assert "'../escape.txt'" in caught.value.detail


def test_member_and_size_caps_are_enforced(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "a.tgz", regular("a", b"x" * 100), regular("b"), regular("c"))

    with pytest.raises(InvalidInput, match="more than 2 members"):
        safe_extract(archive, tmp_path / "one", max_members=2)
    with pytest.raises(InvalidInput, match="more than 50 bytes"):
        safe_extract(archive, tmp_path / "two", max_bytes=50)
    assert not (tmp_path / "one").exists()
    assert not (tmp_path / "two").exists()


def test_not_an_archive_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "code.tgz"
    archive.write_bytes(b"print('not a tarball')\n" * 100)

    with pytest.raises(InvalidInput, match="not a readable tar"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- safe_extract: good archives ----------------------------------------------------------------
@pytest.mark.parametrize("mode", ["w:gz", "w"])
def test_good_archive_is_extracted_with_internal_links(tmp_path: Path, mode: str) -> None:
    # GIVEN a tar(.gz) with a directory, files, a symlink and a hardlink that stay inside
    archive = write_tar(
        tmp_path / "code.tar",
        directory("./"),
        directory("pkg"),
        regular("pkg/train.py", b"print('hi')\n"),
        regular("requirements.txt", b"torch\n"),
        link("latest.py", "pkg/train.py"),
        link("pkg/copy.py", "pkg/train.py", tarfile.LNKTYPE),
        mode=mode,
    )
    dest = tmp_path / "context"

    # WHEN it is extracted
    safe_extract(archive, dest)

    # THEN the tree is there and no staging directory is left
    assert (dest / "pkg" / "train.py").read_text() == "print('hi')\n"
    assert (dest / "requirements.txt").read_text() == "torch\n"
    assert os.readlink(dest / "latest.py") == "pkg/train.py"
    assert (dest / "pkg" / "copy.py").read_text() == "print('hi')\n"
    assert leftovers(tmp_path) == []


# -- pack_context -----------------------------------------------------------------------------
def make_tree(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "train.py").write_text("print('hi')\n")
    (root / "requirements.txt").write_text("torch\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "link").symlink_to("pkg/train.py")
    return root


def test_same_tree_packs_to_the_same_bytes(tmp_path: Path) -> None:
    # GIVEN the same tree built twice, at different times
    first = make_tree(tmp_path / "one")
    second = make_tree(tmp_path / "two")
    os.utime(second / "requirements.txt", (1, 1))

    # WHEN both are packed
    digest_one = pack_context(first, tmp_path / "one.tgz")
    digest_two = pack_context(second, tmp_path / "two.tgz")

    # THEN archives and digests are identical, and the archive unpacks safely to the same tree
    assert digest_one == digest_two
    assert (tmp_path / "one.tgz").read_bytes() == (tmp_path / "two.tgz").read_bytes()
    safe_extract(tmp_path / "one.tgz", tmp_path / "unpacked")
    assert directory_digest(tmp_path / "unpacked") == directory_digest(first)


def test_changed_file_or_mode_changes_the_pack_digest(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    before = pack_context(tree, tmp_path / "a.tgz")

    (tree / "requirements.txt").write_text("torch==2.3\n")
    after_content = pack_context(tree, tmp_path / "b.tgz")
    (tree / "pkg" / "train.py").chmod(0o755)
    after_mode = pack_context(tree, tmp_path / "c.tgz")

    assert len({before, after_content, after_mode}) == 3


def test_packed_archive_has_no_owner_or_time(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    pack_context(tree, tmp_path / "a.tgz")

    with tarfile.open(tmp_path / "a.tgz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}


# -- the code store ---------------------------------------------------------------------------
def test_code_store_put_fetch_and_digest(tmp_path: Path) -> None:
    # GIVEN a local code store and an uploaded tarball
    store = LocalCodeStore(tmp_path / "code")
    data = tar_bytes(regular("train.py", b"print(1)\n"))

    # WHEN it is put twice and fetched
    ref = store.put(data)
    again = store.put(data)
    fetched = store.fetch(ref, tmp_path / "download")

    # THEN the reference names the content, and the fetched archive is byte-identical
    assert ref == again
    assert is_code_ref(ref)
    assert ref == f"code://{store.digest(ref)}"
    assert len(store.digest(ref)) == 64
    assert fetched.read_bytes() == data


@pytest.mark.parametrize(
    "data",
    [b"", b"just some bytes, not an archive", tar_bytes(regular("../x"))],
    ids=["empty", "not-tar", "traversal"],
)
def test_code_store_refuses_bad_uploads(tmp_path: Path, data: bytes) -> None:
    store = LocalCodeStore(tmp_path / "code")

    with pytest.raises(InvalidInput) as caught:
        store.put(data)

    assert caught.value.field == "code"
    assert not (tmp_path / "code").exists() or list((tmp_path / "code").iterdir()) == []


def test_code_store_unknown_and_malformed_refs(tmp_path: Path) -> None:
    store = LocalCodeStore(tmp_path / "code")

    with pytest.raises(NotFound):
        store.fetch("code://" + "0" * 64, tmp_path / "download")
    with pytest.raises(InvalidInput) as caught:
        store.fetch("code://../../etc/passwd", tmp_path / "download")
    assert caught.value.field == "uri"
    assert not is_code_ref("https://example.com/repo.git")


def test_code_store_detects_a_corrupted_archive(tmp_path: Path) -> None:
    store = LocalCodeStore(tmp_path / "code")
    ref = store.put(tar_bytes(regular("a.py")))
    (tmp_path / "code" / store.digest(ref)).write_bytes(tar_bytes(regular("evil.py")))

    with pytest.raises(LaunchFailed, match="corrupt"):
        store.fetch(ref, tmp_path / "download")
    assert list((tmp_path / "download").iterdir()) == []


# -- prepare_source ---------------------------------------------------------------------------
def test_uploaded_code_is_unpacked_with_a_code_digest(tmp_path: Path) -> None:
    store = LocalCodeStore(tmp_path / "code")
    ref = store.put(tar_bytes(regular("train.py", b"print(1)\n")))

    digest = prepare_source(RunSpec(uri=ref), tmp_path / "work" / "context", store)

    assert digest == f"code:{store.digest(ref)}"
    assert (tmp_path / "work" / "context" / "train.py").read_text() == "print(1)\n"
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["context"]


def test_unsafe_archive_already_in_the_store_is_refused_at_build(tmp_path: Path) -> None:
    # GIVEN an archive that reached the store without passing put (e.g. written to the bucket directly)
    store = LocalCodeStore(tmp_path / "code")
    ref = store.put(tar_bytes(regular("a.py")))
    bad = tar_bytes(link("link", "/etc/passwd"))
    digest = hashlib.sha256(bad).hexdigest()
    (tmp_path / "code" / digest).write_bytes(bad)

    # WHEN it is prepared as a source
    with pytest.raises(InvalidInput) as caught:
        prepare_source(RunSpec(uri=f"code://{digest}"), tmp_path / "work" / "context", store)

    # THEN it is refused and the context stays empty
    assert caught.value.field == "uri"
    assert not (tmp_path / "work" / "context").exists()
    assert ref != f"code://{digest}"


def test_uploaded_code_errors(tmp_path: Path) -> None:
    store = LocalCodeStore(tmp_path / "code")
    ref = store.put(tar_bytes(regular("a.py")))
    dest = tmp_path / "context"

    with pytest.raises(LaunchFailed, match="no code store"):
        prepare_source(RunSpec(uri=ref), dest, None)
    with pytest.raises(LaunchFailed, match="not found"):
        prepare_source(RunSpec(uri="code://" + "1" * 64), dest, store)
    with pytest.raises(InvalidInput) as malformed:
        prepare_source(RunSpec(uri="code://nope"), dest, store)
    assert malformed.value.field == "uri"
    with pytest.raises(InvalidInput) as versioned:
        prepare_source(RunSpec(uri=ref, git_version="main"), dest, store)
    assert versioned.value.field == "git_version"


def test_git_source_is_checked_out_with_a_commit_digest_and_no_dot_git(tmp_path: Path) -> None:
    # GIVEN a repository with two commits
    repo = init_repo(tmp_path / "repo")
    first = commit(repo, {"train.py": "print(1)\n"}, "one")
    commit(repo, {"train.py": "print(2)\n"}, "two")

    # WHEN the first commit is prepared
    dest = tmp_path / "context"
    digest = prepare_source(RunSpec(uri=str(repo), git_version=first), dest, None)

    # THEN the context holds that commit's tree, named by its full sha, without .git
    assert digest == f"git:{first}"
    assert (dest / "train.py").read_text() == "print(1)\n"
    assert not (dest / ".git").exists()


def test_local_directory_is_copied_with_a_content_digest_ignoring_git(tmp_path: Path) -> None:
    # GIVEN a working tree (a git repository with an uncommitted change)
    repo = init_repo(tmp_path / "repo")
    commit(repo, {"train.py": "print(1)\n"}, "one")
    (repo / "train.py").write_text("print('edited')\n")

    # WHEN it is prepared without a git_version
    first = prepare_source(RunSpec(uri=str(repo)), tmp_path / "a", None)
    commit(repo, {"notes.txt": "x"}, "two")
    (repo / "notes.txt").unlink()
    second = prepare_source(RunSpec(uri=str(repo)), tmp_path / "b", None)

    # THEN the working tree is copied as is, and .git history does not change the digest
    assert first.startswith("dir:")
    assert (tmp_path / "a" / "train.py").read_text() == "print('edited')\n"
    assert not (tmp_path / "a" / ".git").exists()
    assert first == second
    (repo / "train.py").write_text("print(3)\n")
    assert prepare_source(RunSpec(uri=str(repo)), tmp_path / "c", None) != first


def test_source_errors(tmp_path: Path) -> None:
    dest = tmp_path / "context"

    with pytest.raises(InvalidInput) as missing:
        prepare_source(RunSpec(), dest, None)
    assert missing.value.field == "uri"
    with pytest.raises(InvalidInput) as scheme:
        prepare_source(RunSpec(uri="file:///etc"), dest, None)
    assert scheme.value.field == "uri"
    repo = init_repo(tmp_path / "repo")
    commit(repo, {"a.py": ""}, "one")
    with pytest.raises(LaunchFailed, match="not found"):
        prepare_source(RunSpec(uri=str(repo), git_version="no-such-branch"), dest, None)
