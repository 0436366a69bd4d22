"""A local-process run's workspace, from any source a run may name, uploaded code included.

A run's ``uri`` is a local directory, a git URL (``launchq.build.workspace``) or a
``code://<sha256>`` reference from ``POST /code`` / ``launchq code push``. Targets that run
images build code references into images; local-process unpacks the archive into the run's
fresh workspace, with the same member rules as a build (``launchq.build.source``), so the
reference ``code push`` prints works on every queue.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from launchq.build.source import unpack_code
from launchq.build.workspace import check_source, prepare_workspace
from launchq.domain.code_ref import code_digest, is_code_ref
from launchq.domain.models import RunSpec
from launchq.errors import InvalidInput, LaunchFailed
from launchq.ports import CodeStore


def check_local_source(spec: RunSpec, code_store: CodeStore | None) -> None:
    """Refuse at enqueue a source local-process could never prepare. Raises InvalidInput.

    A code reference must be well formed, without ``git_version``, and this server must keep
    uploads; whether that upload exists is found out when the run starts (its reason then says so).
    """
    uri = spec.uri
    if uri is None or not is_code_ref(uri):
        check_source(uri, spec.git_version)
        return
    code_digest(uri)
    if spec.git_version is not None:
        raise InvalidInput("applies to git sources, not to uploaded code", field="git_version")
    if code_store is None:
        raise InvalidInput("code:// sources need a code store, and none is configured", field="uri")


def prepare_local_workspace(
    workspace: Path, spec: RunSpec, code_store: CodeStore | None, *, timeout: float, exclude: Path
) -> None:
    """Make ``workspace`` a fresh directory holding the run's source.

    ``exclude`` (the data directory) is left out of a copied directory that contains it.
    Raises LaunchFailed (the run is dead-lettered with the reason) whatever went wrong.
    """
    if spec.uri is None or not is_code_ref(spec.uri):
        prepare_workspace(workspace, spec.uri, spec.git_version, timeout=timeout, exclude=exclude)
        return
    try:
        unpack_code(spec, spec.uri, workspace, code_store)
    except InvalidInput as exc:  # checked at enqueue; a bad archive can only be found now
        raise LaunchFailed(str(exc)) from None


def check_executable(program: str, workdir: Path, env: dict[str, str]) -> None:
    """Refuse a command the job could not start in ``workdir`` with ``env``'s PATH. Raises LaunchFailed."""
    if "/" in program:
        path = workdir / program
        if not path.is_file():
            raise LaunchFailed(f"cannot start {program!r}: not found")
        if not os.access(path, os.X_OK):
            raise LaunchFailed(f"cannot start {program!r}: not executable")
        return
    if shutil.which(program, path=env.get("PATH", os.defpath)) is None:
        raise LaunchFailed(f"cannot start {program!r}: not found")
