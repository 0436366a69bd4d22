"""A cloud's SDK is imported only where that cloud is used (issue 13).

Each entry point is imported in a fresh interpreter and ``sys.modules`` is compared with the
interpreter's own start (site's ``*-nspkg.pth`` files create the empty ``google`` namespace
package before any code runs; that is not an SDK). A Lambda handler must load no ``google``
or ``azure`` module; a Cloud Function no ``boto3``, ``botocore`` or ``azure`` module. The
dev environment has every SDK installed, so a Cloud Function is also imported with the AWS
and Azure SDKs made unimportable, as in its deployment (where they are not installed):
Powertools probes ``botocore`` for its user agent and must go on without it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import importlib.abc, importlib.util, json, sys
before = set(sys.modules)
blocked = set(sys.argv[3].split(",")) if sys.argv[3] else set()
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"No module named {name!r} (absent from this deployment)")
        return None
sys.meta_path.insert(0, Absent())
sys.path.insert(0, sys.argv[1])
spec = importlib.util.spec_from_file_location("entry_point", sys.argv[2])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
loaded = sorted({name.split(".")[0] for name in set(sys.modules) - before})
print(json.dumps({"loaded": loaded, "names": sorted(vars(module))}))
"""

AWS_HANDLERS = sorted((REPO / "functions" / "aws").glob("[a-z]*.py"))
GCP_MAIN = REPO / "functions" / "gcp" / "main.py"
AZURE_APP = REPO / "functions" / "azure" / "function_app.py"


def _import(entry_point: Path, blocked: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", PROBE, str(REPO), str(entry_point), ",".join(sorted(blocked))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("handler", AWS_HANDLERS, ids=lambda p: p.stem)
def test_a_lambda_handler_loads_no_google_or_azure_module(handler: Path) -> None:
    found = _import(handler)
    assert "handler" in found["names"]
    assert "launchq" in found["loaded"]  # the probe saw the handler's own imports
    assert not {"google", "azure", "functions_framework", "flask"} & set(found["loaded"])


def test_the_cloud_functions_load_no_aws_or_azure_module() -> None:
    found = _import(GCP_MAIN)
    assert {"api", "dispatcher", "reconciler"} <= set(found["names"])
    assert {"launchq", "functions_framework"} <= set(found["loaded"])
    assert not {"boto3", "s3transfer", "azure"} & set(found["loaded"])


def test_the_cloud_functions_load_without_the_aws_and_azure_sdks_installed() -> None:
    # as deployed: neither boto3/botocore nor azure is installed beside the functions
    found = _import(GCP_MAIN, blocked=frozenset({"boto3", "botocore", "s3transfer", "azure"}))
    assert {"api", "dispatcher", "reconciler"} <= set(found["names"])
    assert not {"boto3", "botocore", "s3transfer", "azure"} & set(found["loaded"])


def test_the_probe_sees_an_sdk_that_is_loaded_and_blocks_an_absent_one(tmp_path: Path) -> None:
    # the checks above could pass by never seeing anything: an entry point importing boto3 is caught
    entry = tmp_path / "entry.py"
    entry.write_text("import boto3\nhandler = None\n")
    assert "boto3" in _import(entry)["loaded"]
    blocked = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", PROBE, str(REPO), str(entry), "boto3"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert blocked.returncode != 0
    assert "absent from this deployment" in blocked.stderr


def test_the_azure_function_app_loads_no_aws_or_google_module() -> None:
    # as deployed: neither boto3/botocore nor google's SDKs are installed beside the app
    found = _import(AZURE_APP, blocked=frozenset({"boto3", "botocore", "s3transfer", "google", "flask"}))
    assert {"app", "api", "dispatcher", "reconciler"} <= set(found["names"])
    assert {"launchq", "azure"} <= set(found["loaded"])
    assert not {"boto3", "botocore", "s3transfer", "google", "functions_framework", "flask"} & set(
        found["loaded"]
    )
