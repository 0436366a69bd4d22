"""The README's two commands set up a fresh machine: what the Makefile asks apt and pip for.

apt is replaced by a recorder at the front of PATH and tools are hidden by building a PATH
without them, so each test sees exactly what the Makefile would install on a machine that
lacks those tools — without installing anything. One test asks the real apt whether every
package the Makefile can ask for resolves together on this machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SYSTEM_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def _make_vars() -> dict[str, str]:
    out = subprocess.run(
        ["make", "-pn", "-f", "Makefile", "clean"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    found: dict[str, str] = {}
    for line in out.splitlines():
        match = re.match(r"^(APT_[A-Z_]+) :?= (.*)$", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def _path_without(tmp_path: Path, hidden: set[str]) -> str:
    """A PATH whose first entry records apt-get calls and whose second mirrors the system's
    commands except ``hidden``."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    recorder = tmp_path / "recorder"
    recorder.mkdir()
    log = tmp_path / "apt.log"
    script = recorder / "apt-get"
    script.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    script.chmod(0o755)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for folder in SYSTEM_DIRS:
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            target = mirror / name
            if name in hidden or name == "apt-get" or target.exists() or target.is_symlink():
                continue
            target.symlink_to(os.path.join(folder, name))
    return f"{recorder}:{mirror}"


def _apt_calls(tmp_path: Path, target: str, hidden: set[str]) -> list[str]:
    env = {**os.environ, "PATH": _path_without(tmp_path, hidden)}
    done = subprocess.run(
        ["make", "-s", target], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    log = tmp_path / "apt.log"
    return log.read_text().splitlines() if log.exists() else []


def _installed(calls: list[str]) -> set[str]:
    packages: set[str] = set()
    for call in calls:
        words = call.split()
        if "install" in words:
            packages.update(w for w in words[words.index("install") + 1 :] if not w.startswith("-"))
    return packages


def test_a_machine_with_every_tool_asks_apt_for_nothing(tmp_path: Path) -> None:
    for tool in ("git", "java", "node", "npm", "buildah", "docker-registry", "skopeo", "busybox"):
        assert shutil.which(tool), f"{tool} should be on this machine after make setup"
    assert _apt_calls(tmp_path, "apt-test", hidden=set()) == []


def test_a_missing_tool_installs_that_package_alone(tmp_path: Path) -> None:
    calls = _apt_calls(tmp_path, "apt-test", hidden={"buildah", "skopeo"})
    assert _installed(calls) == {"buildah", "skopeo"}
    assert calls[0].split()[0] == "update"


def test_node_from_debian_is_asked_for_only_when_there_is_no_node(tmp_path: Path) -> None:
    with_node = _apt_calls(tmp_path / "a", "apt-test", hidden={"busybox"})
    assert _installed(with_node) == {"busybox-static"}
    without_node = _apt_calls(tmp_path / "b", "apt-test", hidden={"node", "npm"})
    assert _installed(without_node) == {"nodejs", "npm"}


def test_node_without_npm_is_a_clear_error_not_a_conflicting_install(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": _path_without(tmp_path, {"npm"})}
    done = subprocess.run(
        ["make", "-s", "apt-test"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert "npm" in done.stderr
    assert not (tmp_path / "apt.log").exists()


def test_make_run_asks_for_the_server_tools_only(tmp_path: Path) -> None:
    hidden = {"git", "java", "node", "npm", "buildah", "docker-registry", "skopeo", "busybox"}
    assert _installed(_apt_calls(tmp_path, "apt-server", hidden)) == {"git"}
    dry = subprocess.run(
        ["make", "-n", "run", f"VENV={tmp_path / 'venv'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "infra/requirements/server.txt" in dry
    assert "dev.txt" not in dry
    assert "npm" not in dry
    assert "launchq serve" in dry


def test_every_apt_package_the_makefile_can_ask_for_resolves_together() -> None:
    """`apt-get install -s` exits non-zero on a conflict (e.g. Debian's npm beside NodeSource's
    nodejs), so a Makefile list that cannot install fails here, on any machine."""
    assert shutil.which("apt-get"), "this project's machines are Debian"
    packages = _make_vars()["APT_PACKAGES"].split()
    assert "npm" not in packages
    assert "nodejs" not in packages
    simulated = subprocess.run(
        ["apt-get", "install", "-s", *packages], capture_output=True, text=True, timeout=120, check=False
    )
    assert simulated.returncode == 0, simulated.stdout[-2000:] + simulated.stderr
