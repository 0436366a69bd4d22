"""Code tarballs: unpack uploaded archives safely, and pack build contexts reproducibly.

:func:`safe_extract` unpacks a ``.tar``, ``.tar.gz`` or ``.tgz`` archive (the format is read
from the content, not the file name) and refuses, with ``InvalidInput`` naming the field and
the member:

* absolute member names and names with a ``..`` component;
* symlinks with an absolute target or a target outside the destination, hardlinks to
  anything but a regular file stored earlier in the same archive;
* members whose path runs through a symlink of the archive, and a name stored twice
  (unless both are directories): together these stop "write through a link" tricks;
* devices, FIFOs and any other special member;
* archives over :data:`MAX_MEMBERS` members or :data:`MAX_EXTRACTED_BYTES` unpacked bytes
  (checked from the headers, before a member's data is decompressed, so a gzip bomb is
  refused early).

Extraction also goes through ``tarfile``'s own ``data`` filter, and every symlink is
checked once more on disk after extraction (a chain of links can escape where each one
alone does not). Everything is unpacked into a temporary directory next to ``dest`` and
moved into place only when all checks passed: a refused archive leaves nothing behind.

:func:`pack_context` writes a tar.gz whose bytes depend only on the tree's relative paths,
modes, link targets and file contents (sorted entries, mtime 0, uid/gid 0, no user names,
gzip header without name or time), and returns its sha256.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from launchq.errors import InvalidInput, LaunchFailed

MAX_MEMBERS = 100_000
"""Most members an archive may hold."""
MAX_EXTRACTED_BYTES = 2 * 1024**3
"""Most bytes (sum of the members' sizes) an archive may unpack to: 2 GiB."""

_CHUNK = 1024 * 1024
_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)


@dataclass
class _Scan:
    """The members seen so far, to judge the next one against."""

    field_name: str
    max_members: int
    max_bytes: int
    count: int = 0
    total: int = 0
    dirs: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)

    def refuse(self, member: str, why: str) -> InvalidInput:
        return InvalidInput(f"archive member {member!r} refused: {why}", field=self.field_name)

    def check(self, member: tarfile.TarInfo) -> None:
        """Raise InvalidInput if ``member`` breaks a rule; otherwise remember it."""
        self.count += 1
        self.total += max(member.size, 0)
        if self.count > self.max_members:
            raise InvalidInput(f"archive has more than {self.max_members} members", field=self.field_name)
        if self.total > self.max_bytes:
            raise InvalidInput(f"archive unpacks to more than {self.max_bytes} bytes", field=self.field_name)
        name = self._relative_name(member)
        if not name:
            if not member.isdir():
                raise self.refuse(member.name, "only a directory may name the archive root")
            return
        self._check_parents(member.name, name)
        self._check_duplicate(member, name)
        if member.issym():
            self._check_symlink(member, name)
            self.links.add(name)
        elif member.islnk():
            self._check_hardlink(member)
            self.files.add(name)
        elif member.isdir():
            self.dirs.add(name)
        elif member.isreg():
            self.files.add(name)
        else:
            raise self.refuse(member.name, "devices, FIFOs and other special files are not allowed")

    def _relative_name(self, member: tarfile.TarInfo) -> str:
        """The member's normalised relative name ('' for the root); refuses unsafe names."""
        if member.name.startswith("/") or PurePosixPath(member.name).is_absolute():
            raise self.refuse(member.name, "absolute paths are not allowed")
        parts = PurePosixPath(member.name).parts
        if ".." in parts:
            raise self.refuse(member.name, "'..' components are not allowed")
        return "/".join(parts)

    def _check_parents(self, raw: str, name: str) -> None:
        parts = name.split("/")
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in self.links:
                raise self.refuse(raw, "its path runs through a symlink of the archive")

    def _check_duplicate(self, member: tarfile.TarInfo, name: str) -> None:
        if name in self.dirs and member.isdir():
            return
        if name in self.dirs or name in self.files or name in self.links:
            raise self.refuse(member.name, "the name is stored more than once")

    def _check_symlink(self, member: tarfile.TarInfo, name: str) -> None:
        target = member.linkname
        if not target or target.startswith("/"):
            raise self.refuse(member.name, f"symlink to {target!r}: only relative targets are allowed")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        if resolved == ".." or resolved.startswith("../"):
            raise self.refuse(member.name, f"symlink to {target!r} points outside the archive")

    def _check_hardlink(self, member: tarfile.TarInfo) -> None:
        target = "/".join(PurePosixPath(member.linkname).parts)
        if member.linkname.startswith("/") or ".." in PurePosixPath(member.linkname).parts:
            raise self.refuse(member.name, f"hardlink to {member.linkname!r} points outside the archive")
        if target not in self.files:
            raise self.refuse(
                member.name, f"hardlink to {member.linkname!r}: not a file stored earlier in the archive"
            )


def _open(archive: Path | None, fileobj: IO[bytes] | None, field_name: str) -> tarfile.TarFile:
    try:
        return tarfile.open(name=archive, fileobj=fileobj, mode="r:*")
    except _READ_ERRORS as exc:
        raise InvalidInput(f"not a readable tar or tar.gz archive: {exc}", field=field_name) from None


def _scan(tar: tarfile.TarFile, field_name: str, max_members: int, max_bytes: int) -> list[tarfile.TarInfo]:
    """Every member of ``tar``, each checked as soon as its header is read."""
    scan = _Scan(field_name, max_members, max_bytes)
    members: list[tarfile.TarInfo] = []
    try:
        member = tar.next()
        while member is not None:
            scan.check(member)
            members.append(member)
            member = tar.next()
    except _READ_ERRORS as exc:
        raise InvalidInput(f"not a readable tar or tar.gz archive: {exc}", field=field_name) from None
    return members


def check_archive(
    data: IO[bytes],
    field: str = "code",
    *,
    max_members: int = MAX_MEMBERS,
    max_bytes: int = MAX_EXTRACTED_BYTES,
) -> int:
    """Read every header of the archive in ``data`` and apply :func:`safe_extract`'s rules.

    Returns the number of members. Raises InvalidInput(field=``field``).
    """
    with _open(None, data, field) as tar:
        return len(_scan(tar, field, max_members, max_bytes))


def _links_stay_inside(root: Path, field_name: str) -> None:
    """Refuse the tree if a symlink in it (possibly through other links) resolves outside."""
    real_root = os.path.realpath(root)
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                continue
            resolved = os.path.realpath(path)
            if resolved != real_root and not resolved.startswith(real_root + os.sep):
                relative = os.path.relpath(path, root)
                raise InvalidInput(
                    f"archive member {relative!r} refused: symlink resolves outside the archive",
                    field=field_name,
                )


def safe_extract(
    archive: Path,
    dest: Path,
    field: str = "uri",
    *,
    max_members: int = MAX_MEMBERS,
    max_bytes: int = MAX_EXTRACTED_BYTES,
) -> None:
    """Unpack ``archive`` into ``dest`` (created; it must not exist or be an empty directory).

    Raises InvalidInput(field=``field``) naming the member for the refusals listed in the
    module docstring, or when the file is not a readable archive; nothing is left extracted.
    """
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest} exists and is not an empty directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest.parent))
    try:
        with _open(archive, None, field) as tar:
            members = _scan(tar, field, max_members, max_bytes)
            try:
                tar.extractall(staging, members=members, filter="data")
            except tarfile.FilterError as exc:
                raise InvalidInput(f"archive refused: {exc}", field=field) from None
            except _READ_ERRORS as exc:
                raise InvalidInput(f"archive could not be unpacked: {exc}", field=field) from None
        _links_stay_inside(staging, field)
        staging.chmod(0o755)
        if dest.exists():
            dest.rmdir()
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def walk_sorted(directory: Path, skip: frozenset[str] = frozenset()) -> Iterator[tuple[str, Path]]:
    """(relative POSIX path, path) of everything under ``directory``, sorted by relative path.

    Symlinks are listed, never followed. Top-level names in ``skip`` are left out with
    everything below them.
    """
    entries: list[tuple[str, Path]] = []
    for current, dirnames, filenames in os.walk(directory):
        base = Path(current)
        top = base == directory
        if top:
            dirnames[:] = [name for name in dirnames if name not in skip]
        for name in [*dirnames, *filenames]:
            if top and name in skip:
                continue
            path = base / name
            entries.append((path.relative_to(directory).as_posix(), path))
    entries.sort(key=lambda entry: entry[0])
    return iter(entries)


def _tarinfo(relative: str, path: Path) -> tarfile.TarInfo:
    """A header for ``path`` that carries nothing but its name, type, mode and size."""
    status = path.lstat()
    info = tarfile.TarInfo(relative)
    info.mode = stat.S_IMODE(status.st_mode)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if stat.S_ISLNK(status.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(path)
    elif stat.S_ISDIR(status.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISREG(status.st_mode):
        info.type = tarfile.REGTYPE
        info.size = status.st_size
    else:
        raise LaunchFailed(f"cannot pack {relative!r}: only files, directories and symlinks can be")
    return info


def pack_context(directory: Path, out: Path, skip: frozenset[str] = frozenset()) -> str:
    """Write ``directory`` as a reproducible tar.gz to ``out``; return the archive's sha256 hex.

    The same tree (paths, modes, link targets, contents) always gives the same bytes.
    Top-level names in ``skip`` (e.g. ``.git``) are left out.
    Raises LaunchFailed for a special file (device, FIFO, socket) in the tree.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        out.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for relative, path in walk_sorted(directory, skip):
            info = _tarinfo(relative, path)
            if info.isreg():
                with path.open("rb") as content:
                    tar.addfile(info, content)
            else:
                tar.addfile(info)
    digest = hashlib.sha256()
    with out.open("rb") as packed:
        for chunk in iter(lambda: packed.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
