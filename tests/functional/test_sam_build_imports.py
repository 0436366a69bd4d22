"""What ``sam build`` ships must start on Lambda: every handler imports from the build alone.

A green ``sam build`` does not prove the layer is complete: a dependency missing from
``shared/requirements.txt`` (httpx once was) only shows when a cold start imports it, and on
AWS that is every route answering 5xx and every doorbell message ending in the DLQ. So the
build is made for real, and each handler is imported by the template's Python in an
isolated interpreter (``-I -S``: no site-packages, no environment, no working directory)
whose ``sys.path`` is the function's folder, the layer, and what the Lambda runtime itself
brings (boto3 and its dependencies, linked from this environment).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.functional.test_sam_template import REPO, RESOURCES, TEMPLATE

# What the AWS Lambda Python runtime has besides the standard library.
LAMBDA_RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
# A cold start loads only AWS code (STYLE: "A Lambda cold start imports only AWS code"): no
# HTTP client the AWS stack does not use, no other cloud, nothing of local mode or the CLI.
NOT_ON_A_COLD_START = (
    "httpx",
    "httpcore",
    "anyio",
    "google",
    "azure",
    "kubernetes",
    "launchq.adapters.registries.oci",
    "launchq.adapters.registries.gcr",
    "launchq.adapters.registries.acr",
    "launchq.adapters.builders.docker",
    "launchq.adapters.builders.buildah",
    "launchq.adapters.stores.sqlite",
    "launchq.adapters.targets.local_process",
    "launchq.local",
    "launchq.cli",
)
FUNCTIONS = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}

# Run by the isolated interpreter: argv = handler "module.function", then the sys.path entries.
PROBE = """
import importlib, json, sys, sysconfig
handler, paths = sys.argv[1], sys.argv[2:]
sys.path[:0] = paths
module_name, function = handler.rsplit(".", 1)
assert callable(getattr(importlib.import_module(module_name), function)), handler
print(json.dumps({
    "modules": {n: getattr(m, "__file__", None) for n, m in sorted(sys.modules.items())},
    "stdlib": sorted({sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")}),
    "version": "python%d.%d" % sys.version_info[:2],
}))
"""


def _runtime_python() -> str:
    """The interpreter of the template's runtime (``sam build`` needs the same on PATH)."""
    runtime = TEMPLATE["Globals"]["Function"]["Runtime"]
    found = shutil.which(runtime)
    assert found, f"{runtime} is not on PATH: sam build and this test need the Lambda runtime's Python"
    # pyenv's shims need the environment the isolated probe does not have: ask for the real binary
    real = subprocess.run(
        [found, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True, check=True
    )
    return real.stdout.strip()


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sam build`` of template.yaml into a temporary folder (fails, never skips, without sam)."""
    sam = Path(sys.executable).parent / "sam"
    assert sam.is_file(), f"{sam} is missing: `make setup` installs aws-sam-cli from the dev lock"
    out = tmp_path_factory.mktemp("sam") / "build"
    built = subprocess.run(
        [str(sam), "build", "-t", "template.yaml", "--build-dir", str(out)],
        cwd=REPO,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return out


@pytest.fixture(scope="module")
def lambda_runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder standing for the runtime's own packages: links to this environment's copies."""
    folder = tmp_path_factory.mktemp("lambda-runtime")
    for name in LAMBDA_RUNTIME_MODULES:
        spec = importlib.util.find_spec(name)
        assert spec is not None, name
        assert spec.origin, name
        origin = Path(spec.origin)
        source = origin.parent if spec.submodule_search_locations else origin
        (folder / source.name).symlink_to(source)
    return folder


def test_sam_build_puts_launchq_and_the_locked_versions_into_the_layer(build: Path) -> None:
    layer = build / "LaunchqLayer" / "python"
    assert (layer / "launchq" / "service" / "dispatcher.py").is_file()
    # the dashboard the API function serves at GET / ships as files, not modules
    assert (layer / "launchq" / "dashboard" / "index.html").is_file()
    assert (layer / "launchq" / "dashboard" / "app.js").is_file()
    for function in FUNCTIONS:
        assert (build / function).is_dir()
    # installed from the hash lock: every distribution pinned there, at its pinned version, and no other
    lock = (REPO / "shared" / "requirements.txt").read_text()
    pinned = {
        _normalized(name): version for name, version in re.findall(r"^([\w.-]+)==([^\s\\;]+)", lock, re.M)
    }
    assert "httpx" in pinned  # every handler's imports need it
    installed = dict(d.name.removesuffix(".dist-info").rsplit("-", 1) for d in layer.glob("*.dist-info"))
    assert {_normalized(name): version for name, version in installed.items()} == pinned


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_handler_imports_from_the_build_output_alone(
    build: Path, lambda_runtime: Path, function: str, tmp_path: Path
) -> None:
    # GIVEN the function's folder, its layer and the runtime's packages, as Lambda lays them out
    handler = FUNCTIONS[function]["Properties"]["Handler"]
    paths = [build / function, build / "LaunchqLayer" / "python", lambda_runtime]

    # WHEN its handler is imported by a bare interpreter, outside the repository
    probe = subprocess.run(
        [_runtime_python(), "-I", "-S", "-c", PROBE, handler, *map(str, paths)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # THEN it imports, every module came from the build or the runtime, and nothing it does not use
    assert probe.returncode == 0, probe.stderr[-3000:]
    loaded: dict[str, Any] = json.loads(probe.stdout)
    assert loaded["version"] == TEMPLATE["Globals"]["Function"]["Runtime"]
    allowed = [*map(str, paths), *loaded["stdlib"]]
    strays = {n: f for n, f in loaded["modules"].items() if f and not f.startswith(tuple(allowed))}
    assert strays == {}
    unneeded = [
        n for n in loaded["modules"] if any(n == m or n.startswith(m + ".") for m in NOT_ON_A_COLD_START)
    ]
    assert unneeded == [], f"{handler} loads on its cold start what it does not use"
