"""Prepare a fresh per-run workspace directory from a run's ``uri`` and ``git_version``.

Used by targets that run code on this machine (local-process), and by
:mod:`launchq.build.source` to clone a git source into a build context; it lives with the
builds so that ``build`` needs no adapter. A source is one of:

* nothing (``uri`` None): an empty directory;
* a local directory: copied (without ``.git``), or, when a ``git_version`` is asked and the
  directory is a git repository, cloned and checked out at that version;
* a git URL of the form ``https://...``, ``ssh://...`` or scp-like ``user@host:path``: cloned
  (and checked out at ``git_version`` when given).

Everything else (``ext::``/``fd::`` transports, ``file://``, other schemes, anything starting
with ``-``) is refused with ``InvalidInput(field="uri")``; :func:`check_uri` is the check to
run at enqueue. git always gets argument lists (never a shell), ``--`` before positional
URLs, ``GIT_TERMINAL_PROMPT=0``, no controlling terminal and a timeout. Error messages never
carry the ``user:password@`` part of a URL.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from launchq.build.allowed_dirs import check_allowed
from launchq.errors import InvalidInput, LaunchFailed

DEFAULT_CLONE_TIMEOUT = 600.0
_STDERR_TAIL = 2000
_MAX_URI_LENGTH = 4096

_TRANSPORT_SYNTAX = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):")
_SCP_LIKE = re.compile(
    r"^(?P<user>[A-Za-z0-9_][A-Za-z0-9._~+-]*)@"
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
    r":(?P<path>[^\s]+)$"
)
_URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s]*@")
_ALLOWED_SCHEMES = ("https", "ssh")

SourceKind = Literal["none", "local", "git"]


def redact(text: str) -> str:
    """``text`` with the ``user:password@`` part of every ``scheme://`` URL removed."""
    return _URL_USERINFO.sub(r"\1", text)


def _has_control_chars(value: str) -> bool:
    return any(ord(char) < 0x20 or ord(char) == 0x7F for char in value)


def _check_git_url(uri: str, scheme: str) -> None:
    """Refuse a ``scheme://`` URL unless it is a well-formed https or ssh URL."""
    if scheme.lower() not in _ALLOWED_SCHEMES:
        raise InvalidInput(
            f"scheme {scheme!r} is not allowed; use https://, ssh://, user@host:path or a local directory",
            field="uri",
        )
    parts = urlsplit(uri)
    try:
        parts.port  # noqa: B018 - parsing the port validates it
    except ValueError as exc:
        raise InvalidInput(f"{redact(uri)!r} has an invalid port: {exc}", field="uri") from None
    host = parts.hostname or ""
    user = parts.username or ""
    if not host or host.startswith("-") or user.startswith("-"):
        raise InvalidInput(f"{redact(uri)!r} has no valid host", field="uri")


def _source_kind(uri: str) -> SourceKind:
    """Classify ``uri`` as a git URL or a local path, refusing what is neither safe nor known."""
    if not uri or len(uri) > _MAX_URI_LENGTH or _has_control_chars(uri):
        raise InvalidInput("must be a non-empty URL or path without control characters", field="uri")
    if uri.startswith("-"):
        raise InvalidInput("must not start with '-'", field="uri")
    if _TRANSPORT_SYNTAX.match(uri):
        raise InvalidInput("git transport syntax '<transport>::<address>' is not allowed", field="uri")
    if "://" in uri:
        scheme_match = _SCHEME.match(uri)
        if scheme_match is None:
            raise InvalidInput(f"{redact(uri)!r} is not a valid URL", field="uri")
        _check_git_url(uri, scheme_match.group("scheme"))
        return "git"
    scp = _SCP_LIKE.match(uri)
    if scp is not None:
        if scp.group("path").startswith("-"):
            raise InvalidInput("the repository path must not start with '-'", field="uri")
        return "git"
    return "local"


def check_uri(uri: str) -> None:
    """Refuse at enqueue a ``uri`` that cannot be used as a run's source. Raises InvalidInput.

    Accepted: ``https://``/``ssh://`` URLs, scp-like ``user@host:path`` and existing local
    directories (absolute or relative to this process's working directory) inside the
    directories the server allows (``allowed_dirs``).
    """
    if _source_kind(uri) != "local":
        return
    if not Path(uri).is_dir():
        raise InvalidInput(
            f"{uri!r} is neither a supported git URL (https://, ssh://, user@host:path) "
            "nor an existing local directory",
            field="uri",
        )
    check_allowed(uri)


def check_git_version(git_version: str) -> None:
    """Refuse a branch/tag/commit name git could read as an option. Raises InvalidInput."""
    if not git_version or git_version.startswith("-") or _has_control_chars(git_version):
        raise InvalidInput(
            "must be a branch, tag or commit (non-empty, not starting with '-')", field="git_version"
        )
    if any(char.isspace() for char in git_version):
        raise InvalidInput("must not contain whitespace", field="git_version")


def check_source(uri: str | None, git_version: str | None) -> None:
    """``check_uri`` and ``check_git_version`` together; a version needs a uri. Raises InvalidInput."""
    if uri is not None:
        check_uri(uri)
    if git_version is not None:
        if uri is None:
            raise InvalidInput("needs a uri", field="git_version")
        check_git_version(git_version)


def _git_env(protocols: str) -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_ALLOW_PROTOCOL"] = protocols
    if "GIT_SSH_COMMAND" not in env and "GIT_SSH" not in env:
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    return env


def _run_git(args: list[str], timeout: float, what: str, protocols: str, *, check: bool = True) -> str | None:
    """Run ``git *args`` without a terminal and return its stdout.

    A non-zero exit raises LaunchFailed with git's stderr tail (redacted), or returns None
    when ``check`` is false. A timeout always raises LaunchFailed.
    """
    try:
        proc = subprocess.Popen(
            ["git", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_git_env(protocols),
            start_new_session=True,
        )
    except OSError as exc:
        raise LaunchFailed(f"{what}: cannot run git: {exc.strerror or exc}") from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):  # git and its helpers are already gone
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise LaunchFailed(f"{what}: timed out after {timeout:g}s") from None
    if proc.returncode != 0:
        if not check:
            return None
        tail = err.decode(errors="replace").strip()[-_STDERR_TAIL:]
        raise LaunchFailed(redact(f"{what} failed (exit {proc.returncode}): {tail}"))
    return out.decode(errors="replace").strip()


class _Git:
    """git commands for one clone, sharing a timeout and the allowed protocols."""

    def __init__(self, source: str, dest: Path, timeout: float, *, local: bool) -> None:
        self.source = source
        self.dest = dest
        self.timeout = timeout
        self.local = local
        self.protocols = "file" if local else ":".join(_ALLOWED_SCHEMES)

    def run(self, args: list[str], what: str, *, check: bool = True) -> str | None:
        return _run_git(args, self.timeout, what, self.protocols, check=check)

    def in_clone(self, args: list[str], what: str, *, check: bool = True) -> str | None:
        return self.run(["-C", str(self.dest), *args], what, check=check)

    def commit_of(self, rev: str) -> str | None:
        return self.in_clone(
            ["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], f"resolving {rev!r}", check=False
        )

    def clone(self, git_version: str | None) -> None:
        options = ["--quiet", "--no-hardlinks"] if self.local else ["--quiet"]
        self.run(
            ["clone", *options, "--", self.source, str(self.dest)], redact(f"git clone of {self.source}")
        )
        if git_version is not None:
            commit = self.resolve(git_version)
            self.in_clone(["checkout", "--quiet", "--detach", commit], f"git checkout of {git_version!r}")

    def resolve(self, git_version: str) -> str:
        """The commit ``git_version`` names: a branch, tag or commit, fetched if need be."""
        commit = self.commit_of(git_version) or self.commit_of(f"origin/{git_version}")
        if commit:
            return commit
        self.in_clone(
            ["fetch", "--quiet", "origin", git_version],
            redact(f"git_version {git_version!r} not found in {self.source}; fetching it"),
        )
        commit = self.commit_of("FETCH_HEAD")
        if not commit:
            raise LaunchFailed(redact(f"git_version {git_version!r} not found in {self.source}"))
        return commit


def _is_git_repo(path: Path) -> bool:
    """A working tree with ``.git`` at its top, or a bare repository."""
    bare = (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()
    return (path / ".git").exists() or bare


def _copy_dir(source: Path, dest: Path, exclude: Path | None) -> None:
    """Copy ``source`` to ``dest`` without ``.git``, ``dest`` itself and ``exclude``.

    Leaving out ``dest`` and ``exclude`` (launchq's data directory) keeps a source that
    contains them, e.g. ``uri="."`` in the directory the server runs in, from copying
    itself or other runs into the workspace.
    """
    skipped = {dest.resolve(), *([exclude.resolve()] if exclude is not None else [])}

    def ignore(directory: str, names: list[str]) -> set[str]:
        return {name for name in names if name == ".git" or Path(directory, name).resolve() in skipped}

    try:
        shutil.copytree(source, dest, symlinks=True, ignore=ignore)
    except OSError as exc:  # shutil.Error is an OSError
        raise LaunchFailed(f"cannot copy {str(source)!r}: {str(exc)[:_STDERR_TAIL]}") from None


def clear_dest(dest: Path) -> None:
    """Remove whatever is at ``dest`` (a file, a link or a tree) and make sure its parent exists."""
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)


def prepare_workspace(
    dest: Path,
    uri: str | None,
    git_version: str | None = None,
    *,
    timeout: float = DEFAULT_CLONE_TIMEOUT,
    exclude: Path | None = None,
) -> None:
    """Make ``dest`` a fresh directory holding the run's source.

    Whatever was at ``dest`` before is removed; a copied directory leaves out ``exclude``
    (the caller's data directory) if it lies inside the source. Raises LaunchFailed when the source is
    refused, missing, or cannot be copied or cloned (the run goes to ``dead_letter``).
    """
    try:
        check_source(uri, git_version)
    except InvalidInput as exc:
        raise LaunchFailed(redact(str(exc))) from None
    clear_dest(dest)
    if uri is None:
        dest.mkdir()
        return
    if _source_kind(uri) == "git":
        _Git(uri, dest, timeout, local=False).clone(git_version)
        return
    source = Path(uri).resolve()
    if git_version is None:
        _copy_dir(source, dest, exclude)
    elif _is_git_repo(source):
        _Git(str(source), dest, timeout, local=True).clone(git_version)
    else:
        raise LaunchFailed(f"git_version {git_version!r} given but {str(source)!r} is not a git repository")
