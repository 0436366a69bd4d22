"""Put a run's source into a build context directory and say what it is (its source digest).

The digest identifies the code exactly and goes into the image tag:

* a git URL (or a local repository with a ``git_version``): cloned and checked out by
  :func:`launchq.build.workspace.prepare_workspace`; ``git:<full commit sha>``.
  The clone's ``.git`` is removed afterwards: the commit already names the code, and the
  directory (its ``config`` holds the remote URL, credentials included) must not end up in
  an image;
* an uploaded tarball ``code://<sha256>``: fetched from the code store and unpacked with
  :func:`launchq.build.tarball.safe_extract`; ``code:<sha256>``;
* a local directory (local mode): copied without ``.git``; ``dir:<sha256>`` over the sorted
  relative paths, types, modes, link targets and file contents.
"""

from __future__ import annotations

import hashlib
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from launchq.build.tarball import safe_extract, walk_sorted
from launchq.build.workspace import check_source, clear_dest, prepare_workspace
from launchq.domain.code_ref import is_code_ref
from launchq.domain.models import RunSpec
from launchq.errors import InvalidInput, LaunchFailed, NotFound
from launchq.ports import CodeStore

GIT_TIMEOUT = 60.0


def _field(digest: hashlib._Hash, value: bytes) -> None:
    digest.update(len(value).to_bytes(8, "big"))
    digest.update(value)


def directory_digest(directory: Path) -> str:
    """sha256 hex over the tree under ``directory`` (``.git`` at its top left out).

    Covers each entry's relative path, type, permission bits and its content (files) or
    target (symlinks); timestamps and owners do not count.
    """
    digest = hashlib.sha256(b"launchq-dir-v1")
    for relative, path in walk_sorted(directory, skip=frozenset({".git"})):
        status = path.lstat()
        _field(digest, relative.encode("utf-8", "surrogateescape"))
        _field(digest, oct(stat.S_IMODE(status.st_mode)).encode())
        if stat.S_ISLNK(status.st_mode):
            _field(digest, b"symlink")
            _field(digest, str(path.readlink()).encode("utf-8", "surrogateescape"))
        elif stat.S_ISDIR(status.st_mode):
            _field(digest, b"dir")
        elif stat.S_ISREG(status.st_mode):
            _field(digest, b"file")
            with path.open("rb") as stream:
                _field(digest, hashlib.file_digest(stream, "sha256").digest())
        else:
            raise LaunchFailed(f"the source holds {relative!r}, which is not a file, directory or symlink")
    return digest.hexdigest()


def _head_commit(clone: Path) -> str:
    """The full sha of the commit checked out in ``clone``. Raises LaunchFailed."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(clone), "rev-parse", "--verify", "HEAD^{commit}"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise LaunchFailed(f"git rev-parse HEAD timed out after {GIT_TIMEOUT:g}s") from None
    except OSError as exc:
        raise LaunchFailed(f"cannot run git: {exc.strerror or exc}") from None
    commit = proc.stdout.strip()
    if proc.returncode != 0 or len(commit) < 40:
        raise LaunchFailed(f"cannot read the cloned commit: {proc.stderr.strip()[-500:]}")
    return commit


def unpack_code(spec: RunSpec, ref: str, dest: Path, code_store: CodeStore | None) -> str:
    """Make ``dest`` a fresh directory holding the uploaded code ``ref``; return its digest.

    Also how local-process fills a run's workspace from ``code://``. Raises InvalidInput
    (a ``git_version``, an unsafe archive), LaunchFailed (no store, nothing uploaded).
    """
    if spec.git_version is not None:
        raise InvalidInput("applies to git sources, not to uploaded code", field="git_version")
    if code_store is None:
        raise LaunchFailed(f"{ref} is uploaded code, but no code store is configured")
    digest = code_store.digest(ref)
    clear_dest(dest)
    with tempfile.TemporaryDirectory(prefix=".code-", dir=dest.parent) as download:
        try:
            archive = code_store.fetch(ref, Path(download))
        except NotFound:
            raise LaunchFailed(f"uploaded code {ref} was not found (upload it with POST /code)") from None
        safe_extract(archive, dest, field="uri")
    return f"code:{digest}"


def prepare_source(spec: RunSpec, dest: Path, code_store: CodeStore | None) -> str:
    """Make ``dest`` a fresh directory holding the run's source; return its source digest.

    Raises InvalidInput for a user mistake (no ``uri``, a refused URL or ``git_version``, a
    malformed code reference, an unsafe tarball), LaunchFailed when the source cannot be
    fetched, cloned or copied (the reason says why), BackendUnavailable from the code store.
    """
    uri = spec.uri
    if uri is None:
        raise InvalidInput(
            "a build needs a source: a git URL, a code:// reference from POST /code, or a local directory",
            field="uri",
        )
    if is_code_ref(uri):
        return unpack_code(spec, uri, dest, code_store)
    check_source(uri, spec.git_version)
    prepare_workspace(dest, uri, spec.git_version)
    git_dir = dest / ".git"
    if git_dir.exists():  # a clone: a copied directory never keeps its .git
        commit = _head_commit(dest)
        shutil.rmtree(git_dir)
        return f"git:{commit}"
    return f"dir:{directory_digest(dest)}"
