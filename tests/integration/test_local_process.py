"""The local-process target against real subprocesses, git repositories and signals."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from launchq.adapters.targets.local_process import LocalProcessTarget
from launchq.build.workspace import check_uri
from launchq.domain.models import Run, RunSpec
from launchq.errors import InvalidInput, LaunchFailed
from launchq.ports import TargetStatus

pytestmark = pytest.mark.integration

PY = sys.executable
TERMINAL = {"finished", "failed", "stopped", "lost"}


def make_run(resolved: dict[str, Any] | None = None, **spec: Any) -> Run:
    now = datetime.now(UTC)
    return Run(
        id=f"run-{uuid.uuid4().hex[:12]}",
        queue="q1",
        entity="alice",
        spec=RunSpec(**spec),
        resolved=resolved or {},
        created_at=now,
        updated_at=now,
    )


@pytest.fixture
def target(tmp_path: Path) -> Iterator[LocalProcessTarget]:
    target = LocalProcessTarget(tmp_path / "data", grace_seconds=5.0)
    yield target
    for proc in list(target._supervisors.values()):  # never leave a job behind
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()


def launch(target: LocalProcessTarget, run: Run) -> Run:
    target.validate(run.spec, run.resolved)
    return run.model_copy(update={"handle": target.submit(run)})


def wait_for(target: LocalProcessTarget, run: Run, timeout: float = 15.0) -> TargetStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = target.status(run)
        if status.state in TERMINAL or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def wait_for_log(target: LocalProcessTarget, run: Run, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in target.logs(run)[0]:
        assert time.monotonic() < deadline, f"{text!r} never appeared in the log"
        time.sleep(0.05)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def init_repo(repo: Path) -> Path:
    repo.mkdir()
    git(repo, "init", "--quiet")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    return repo


# -- running and finishing ---------------------------------------------------------------
def test_exit_zero_is_finished_with_output_in_logs(target: LocalProcessTarget) -> None:
    # GIVEN a job that prints to stdout and stderr and exits 0
    code = "import sys; print('hello out'); print('hello err', file=sys.stderr)"
    run = launch(target, make_run(entry_point=[PY, "-c", code]))

    # WHEN it ends
    status = wait_for(target, run)

    # THEN it finished and both streams are in the log, with an offset to continue from
    assert status.state == "finished"
    assert status.exit_code == 0
    text, offset = target.logs(run)
    assert "hello out" in text
    assert "hello err" in text
    assert offset == Path(run.handle["log"]).stat().st_size
    assert target.logs(run, offset) == ("", offset)
    assert set(run.handle) == {"pid", "pgid", "workspace", "log", "exit_file", "host"}


def test_nonzero_exit_is_failed_with_its_code(target: LocalProcessTarget) -> None:
    # GIVEN a job that exits 3
    run = launch(target, make_run(entry_point=[PY, "-c", "raise SystemExit(3)"]))

    # WHEN it ends
    status = wait_for(target, run)

    # THEN it failed with exit code 3
    assert status.state == "failed"
    assert status.exit_code == 3


def test_exit_code_is_read_by_another_target_instance(tmp_path: Path) -> None:
    # GIVEN a job started by one target (server process) that has since gone away
    first = LocalProcessTarget(tmp_path / "data")
    run = launch(first, make_run(entry_point=[PY, "-c", "raise SystemExit(4)"]))
    wait_for(first, run)

    # WHEN a fresh target over the same data directory asks
    status = LocalProcessTarget(tmp_path / "data").status(run)

    # THEN it reads the recorded exit code
    assert (status.state, status.exit_code) == ("failed", 4)


def test_environment_is_injected_and_injected_variables_win(target: LocalProcessTarget) -> None:
    # GIVEN queue env, run env, and a run env that tries to override an injected variable
    names = [
        "LAUNCHQ_RUN_ID",
        "LAUNCHQ_QUEUE",
        "WANDB_LAUNCH",
        "WANDB_RUN_ID",
        "WANDB_LAUNCH_QUEUE_NAME",
        "WANDB_PROJECT",
        "WANDB_ENTITY",
        "FROM_QUEUE",
        "FROM_RUN",
        "SHARED",
    ]
    code = f"import os; [print(n + '=' + os.environ.get(n, '<unset>')) for n in {names!r}]"
    run = make_run(
        resolved={"env": {"FROM_QUEUE": "q", "SHARED": "queue"}},
        entry_point=[PY, "-c", code],
        env={"FROM_RUN": "r", "SHARED": "run", "WANDB_ENTITY": "mallory"},
        project="proj",
    )

    # WHEN it runs
    run = launch(target, run)
    assert wait_for(target, run).state == "finished"

    # THEN the child saw every variable, the run's env over the queue's, injected ones last
    lines = dict(line.split("=", 1) for line in target.logs(run)[0].splitlines())
    assert lines == {
        "LAUNCHQ_RUN_ID": run.id,
        "LAUNCHQ_QUEUE": "q1",
        "WANDB_LAUNCH": "True",
        "WANDB_RUN_ID": run.id,
        "WANDB_LAUNCH_QUEUE_NAME": "q1",
        "WANDB_PROJECT": "proj",
        "WANDB_ENTITY": "alice",
        "FROM_QUEUE": "q",
        "FROM_RUN": "r",
        "SHARED": "run",
    }


def test_missing_executable_fails_the_launch(target: LocalProcessTarget) -> None:
    # GIVEN an entry point that is nowhere on PATH
    run = make_run(entry_point=["launchq-no-such-program-xyz", "--flag"])

    # WHEN it is submitted THEN the launch fails, naming the program
    with pytest.raises(LaunchFailed, match="cannot start 'launchq-no-such-program-xyz': not found"):
        target.submit(run)


def test_entry_point_relative_to_workdir(target: LocalProcessTarget, tmp_path: Path) -> None:
    # GIVEN a source directory with an executable script in a subdirectory
    src = tmp_path / "src"
    (src / "app").mkdir(parents=True)
    script = src / "app" / "run.sh"
    script.write_text('#!/bin/sh\necho from-script "$1"\n')
    script.chmod(0o755)
    run = make_run(resolved={"workdir": "app"}, uri=str(src), entry_point=["./run.sh"], args=["x y"])

    # WHEN it runs
    run = launch(target, run)

    # THEN the script ran from the workdir with its argument intact
    assert wait_for(target, run).state == "finished"
    assert target.logs(run)[0] == "from-script x y\n"


# -- stopping ------------------------------------------------------------------------------
def test_stop_kills_the_whole_process_group(target: LocalProcessTarget) -> None:
    # GIVEN a parent that spawns a sleeping child, both in the job's process group
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '300'])\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    run = launch(target, make_run(entry_point=[PY, "-c", code]))
    wait_for_log(target, run, "child ")
    pgid = int(run.handle["pgid"])
    child_pid = int(target.logs(run)[0].split()[1])
    assert os.getpgid(child_pid) == pgid

    # WHEN it is stopped (twice: stop is idempotent)
    started = time.monotonic()
    target.stop(run)
    target.stop(run)
    status = wait_for(target, run, timeout=5.0)

    # THEN it is stopped quickly, by SIGTERM, and nothing of the group is left
    assert status.state == "stopped"
    assert status.exit_code == -15
    assert time.monotonic() - started < 4.0
    deadline = time.monotonic() + 5.0
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "process group still alive"
        time.sleep(0.05)


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(target: LocalProcessTarget) -> None:
    # GIVEN a job that ignores SIGTERM and a short grace period
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(300)\n"
    )
    run = launch(target, make_run(resolved={"grace_period_seconds": 0.5}, entry_point=[PY, "-c", code]))
    wait_for_log(target, run, "ready")

    # WHEN it is stopped
    started = time.monotonic()
    target.stop(run)
    stop_returned = time.monotonic() - started
    time.sleep(0.2)
    still_running = target.status(run).state

    # THEN stop did not block, SIGTERM alone did not end it, and SIGKILL did after the grace
    assert stop_returned < 0.4
    assert still_running == "running"
    status = wait_for(target, run, timeout=5.0)
    assert status.state == "stopped"
    assert status.exit_code == -9
    with pytest.raises(ProcessLookupError):
        os.killpg(int(run.handle["pgid"]), 0)


def test_stop_of_a_finished_run_changes_nothing(target: LocalProcessTarget) -> None:
    # GIVEN a run that already failed with exit code 3
    run = launch(target, make_run(entry_point=[PY, "-c", "raise SystemExit(3)"]))
    assert wait_for(target, run).state == "failed"

    # WHEN it is stopped THEN it still reports its own failure
    target.stop(run)
    assert target.status(run).exit_code == 3
    assert target.status(run).state == "failed"


# -- workspaces ----------------------------------------------------------------------------
def test_local_directory_is_copied_without_git(target: LocalProcessTarget, tmp_path: Path) -> None:
    # GIVEN a source directory with a file, a nested file and a .git directory
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / ".git").mkdir()
    (src / "data.txt").write_text("payload-1")
    (src / "pkg" / "mod.txt").write_text("nested")
    code = "import os; print(open('data.txt').read(), open('pkg/mod.txt').read(), os.path.exists('.git'))"

    # WHEN a run with that uri executes
    run = launch(target, make_run(uri=str(src), entry_point=[PY, "-c", code]))

    # THEN it ran in a copy (the source is untouched by the run), without .git
    assert wait_for(target, run).state == "finished"
    assert target.logs(run)[0].strip() == "payload-1 nested False"
    assert Path(run.handle["workspace"]) != src
    assert (Path(run.handle["workspace"]) / "data.txt").read_text() == "payload-1"


def test_source_containing_the_data_dir_does_not_copy_it(tmp_path: Path) -> None:
    # GIVEN a server whose data directory lies inside the source directory of a run
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text("print('trained')")
    target = LocalProcessTarget(project / ".launchq")

    # WHEN a run uses the whole project as its source
    run = launch(target, make_run(uri=str(project), entry_point=[PY, "train.py"]))

    # THEN the workspace holds the project but not launchq's own data
    assert wait_for(target, run).state == "finished"
    assert target.logs(run)[0] == "trained\n"
    assert sorted(p.name for p in Path(run.handle["workspace"]).iterdir()) == ["train.py"]


def test_local_git_repo_is_cloned_at_the_asked_commit(target: LocalProcessTarget, tmp_path: Path) -> None:
    # GIVEN a git repository with two commits changing one file
    repo = init_repo(tmp_path / "repo")
    (repo / "version.txt").write_text("one")
    git(repo, "add", "version.txt")
    git(repo, "commit", "--quiet", "-m", "first")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "version.txt").write_text("two")
    git(repo, "commit", "--quiet", "-am", "second")

    # WHEN a run asks for the first commit
    show = [PY, "-c", "print(open('version.txt').read())"]
    run = launch(target, make_run(uri=str(repo), git_version=first, entry_point=show))

    # THEN the workspace has the old content, checked out at that commit
    assert wait_for(target, run).state == "finished"
    assert target.logs(run)[0].strip() == "one"
    assert git(Path(run.handle["workspace"]), "rev-parse", "HEAD") == first


def test_unknown_git_version_fails_the_launch(target: LocalProcessTarget, tmp_path: Path) -> None:
    # GIVEN a git repository with one commit
    repo = init_repo(tmp_path / "repo")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "x")

    # WHEN a run asks for a version that does not exist THEN the launch fails
    run = make_run(uri=str(repo), git_version="no-such-branch", entry_point=[PY, "-V"])
    with pytest.raises(LaunchFailed, match="no-such-branch"):
        target.submit(run)


def test_failed_clone_reports_git_error_without_credentials(target: LocalProcessTarget) -> None:
    # GIVEN an https URL with credentials to a host that cannot be reached
    run = make_run(uri="https://bob:s3cret@127.0.0.1:9/repo.git", entry_point=[PY, "-V"])

    # WHEN it is submitted THEN the launch fails and the message never shows the password
    with pytest.raises(LaunchFailed) as caught:
        target.submit(run)
    assert "git clone" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert "bob" not in str(caught.value)


# -- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "uri",
    [
        "ext::sh -c x",
        "file:///etc",
        "-oProxyCommand=x",
        "ftp://x",
        "http://example.com/repo.git",
        "ssh://-oProxyCommand=x/repo",
        "/no/such/launchq/dir",
    ],
)
def test_check_uri_refuses_unsafe_or_missing_sources(uri: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_uri(uri)
    assert caught.value.field == "uri"


@pytest.mark.parametrize(
    "uri", ["https://github.com/org/repo.git", "ssh://git@github.com/org/repo.git", "git@github.com:org/repo"]
)
def test_check_uri_accepts_git_urls(uri: str) -> None:
    check_uri(uri)


def test_validate_refuses_unknown_config_key(target: LocalProcessTarget) -> None:
    with pytest.raises(InvalidInput) as caught:
        target.validate(RunSpec(entry_point=["python"]), {"foo": 1})
    assert caught.value.field == "resource_args.local-process.foo"
    assert caught.value.detail == "unknown key"


@pytest.mark.parametrize("workdir", ["/etc", "../up", "a/../../b"])
def test_validate_refuses_workdir_outside_workspace(target: LocalProcessTarget, workdir: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        target.validate(RunSpec(entry_point=["python"]), {"workdir": workdir})
    assert caught.value.field == "resource_args.local-process.workdir"


def test_validate_refuses_empty_entry_point(target: LocalProcessTarget) -> None:
    with pytest.raises(InvalidInput) as caught:
        target.validate(RunSpec(), {})
    assert caught.value.field == "entry_point"
