"""``infra/gcp`` (Terraform) matches the code it deploys.

``terraform validate`` needs the google provider, which cannot be downloaded here, so the
files are parsed with python-hcl2 (the HCL parser checkov uses, in its own virtualenv that
``make setup`` installs) and checked against launchq itself: the Firestore composite indexes
are the ones the store declares it queries with, every function of ``functions/gcp/main.py``
is deployed with its entry point, every variable the functions get is a setting launchq
reads, the doorbell subscription dead-letters, Vertex AI job log entries reach
``target_events`` through a sink whose filter the events parser reads, the code bucket expires
what it keeps, and nothing is open to ``allUsers``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from launchq.adapters.stores import firestore
from launchq.gcp import wiring
from launchq.gcp.settings import GcpSettings

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra" / "gcp"
HCL_PYTHON = Path(sys.executable).parent.parent / "checkov" / "bin" / "python"

PARSE = """
import hcl2, json, pathlib, sys
print(json.dumps({p.name: hcl2.load(p.open()) for p in sorted(pathlib.Path(sys.argv[1]).glob("*.tf"))}))
"""


@pytest.fixture(scope="module")
def tf() -> dict[str, Any]:
    if not HCL_PYTHON.exists():
        pytest.fail(f"python-hcl2 comes with checkov's virtualenv at {HCL_PYTHON}: run `make setup`")
    done = subprocess.run(
        [str(HCL_PYTHON), "-c", PARSE, str(INFRA)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(_plain(json.loads(done.stdout)))


def _plain(value: Any) -> Any:
    """checkov's python-hcl2 wraps every attribute and block in a list: unwrap one-element ones."""
    if isinstance(value, dict):
        return {k: _plain(v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _resources(tf: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for parsed in tf.values():
        blocks = parsed.get("resource", [])
        for block in blocks if isinstance(blocks, list) else [blocks]:
            found.update(block.get(kind, {}))
    return found


def _local(tf: dict[str, Any], name: str) -> Any:
    return next(parsed["locals"][name] for parsed in tf.values() if name in parsed.get("locals", {}))


def _declared_indexes() -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """The store's own list (its module docstring, beside the queries): ``kind (a, b desc), ...``."""
    doc = firestore.__doc__ or ""
    text = " ".join(doc.split("Composite indexes a deployment needs")[1].split(";")[:-1])
    wanted = set()
    for kind, groups in re.findall(r"(\w+) ((?:\([^)]*\)(?:, )?)+)", text):
        for group in re.findall(r"\(([^)]*)\)", groups):
            fields = []
            for part in group.split(","):
                name, *order = part.strip().split()
                fields.append((name, "DESCENDING" if order == ["desc"] else "ASCENDING"))
            wanted.add((kind, tuple(fields)))
    return wanted


def test_the_firestore_indexes_are_the_ones_the_store_queries_with(tf: dict[str, Any]) -> None:
    declared = _declared_indexes()
    assert len(declared) == 6, declared  # runs x4, events, jobs: the parse above found them all
    indexes = _local(tf, "indexes")
    deployed = {(i["collection"], tuple((f, o) for f, o in i["fields"])) for i in indexes.values()}
    assert deployed == declared
    index = _resources(tf, "google_firestore_index")["launchq"]
    assert index["collection"] == "${var.collection_prefix}_${each.value.collection}"


def test_every_function_is_deployed_with_its_entry_point(tf: dict[str, Any]) -> None:
    source = (REPO / "functions" / "gcp" / "main.py").read_text()
    entry_points = set(re.findall(r"@functions_framework\.\w+\ndef (\w+)\(", source))
    assert entry_points == {"api", "dispatcher", "reconciler", "target_events"}
    function = _resources(tf, "google_cloudfunctions2_function")["launchq"]
    assert (function["for_each"], function["build_config"]["entry_point"]) == (
        "${local.functions}",
        "${each.key}",
    )
    assert function["name"] == '${var.name}-${replace(each.key, "_", "-")}'  # Cloud Run: no underscore
    assert set(_local(tf, "functions")) == entry_points
    assert function["build_config"]["runtime"] == "python311"


def test_every_variable_the_functions_get_is_a_setting_launchq_reads(tf: dict[str, Any]) -> None:
    environment = _local(tf, "environment")
    text = json.dumps(environment)
    given = set(re.findall(r"\bLAUNCHQ_[A-Z_]+\b", text))
    known = {f"LAUNCHQ_{name.upper()}" for name in GcpSettings.model_fields} | {"LAUNCHQ_GCP_PROJECT"}
    assert given - known == set()
    required = {f"LAUNCHQ_{n.upper()}" for n, f in GcpSettings.model_fields.items() if f.is_required()}
    assert required - {"LAUNCHQ_PROJECT"} <= given
    assert "LAUNCHQ_GCP_PROJECT" in given


def test_pushes_are_signed_retried_and_dead_lettered(tf: dict[str, Any]) -> None:
    subscriptions = _resources(tf, "google_pubsub_subscription")
    for name in ["dispatcher", "reconciler"]:
        body = subscriptions[name]
        assert body["push_config"]["oidc_token"]["service_account_email"]
        policy = body["dead_letter_policy"]
        assert policy["dead_letter_topic"] == "${google_pubsub_topic.dead_letter.id}"
        assert 5 <= policy["max_delivery_attempts"] <= 100  # Pub/Sub's allowed range
    assert subscriptions["dispatcher"]["ack_deadline_seconds"] > 60  # the dispatcher's timeout
    schedule = _resources(tf, "google_cloud_scheduler_job")["reconcile"]
    assert schedule["schedule"] == "* * * * *"
    assert schedule["pubsub_target"]["topic_name"] == "${google_pubsub_topic.tick.id}"


def test_nothing_is_public_and_each_function_has_its_own_service_account(tf: dict[str, Any]) -> None:
    text = json.dumps(tf)
    assert "allUsers" not in text
    assert "allAuthenticatedUsers" not in text
    assert "roles/owner" not in text
    assert "roles/editor" not in text
    settings = _local(tf, "functions")
    assert len({f["sa"] for f in settings.values()}) == 4
    # Pub/Sub's pushes count as internal traffic: only the API takes requests from outside
    assert {name: f["ingress"] for name, f in settings.items()} == {
        "api": "ALLOW_ALL",
        "dispatcher": "ALLOW_INTERNAL_ONLY",
        "reconciler": "ALLOW_INTERNAL_ONLY",
        "target_events": "ALLOW_INTERNAL_ONLY",
    }


def test_checkov_passes_every_check_on_the_terraform() -> None:
    # each skip is a `#checkov:skip=ID:reason` on its resource; none in the config file
    checkov = HCL_PYTHON.with_name("checkov")
    done = subprocess.run(
        [str(checkov), "--config-file", str(INFRA / "checkov.yaml"), "-o", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1: some check failed
    report = json.loads(done.stdout)
    assert report["check_type"] == "terraform"
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] >= 50
    skipped = {c["check_id"] for c in report["results"]["skipped_checks"]}
    assert skipped == {"CKV_GCP_62", "CKV_GCP_78", "CKV_GCP_83", "CKV_GCP_124"}


def test_vertex_job_entries_reach_target_events_through_a_sink_the_parser_understands(
    tf: dict[str, Any],
) -> None:
    # GIVEN the sink's filter: Vertex AI's own job messages and its cancel/delete audit entries
    sink = _resources(tf, "google_logging_project_sink")["vertex_jobs"]
    assert sink["destination"] == "pubsub.googleapis.com/${google_pubsub_topic.target_events.id}"
    assert sink["filter"] == "${local.vertex_job_filter}"
    assert sink["unique_writer_identity"] is True
    text = _local(tf, "vertex_job_filter").replace("\\", "")  # python-hcl2 keeps HCL's escapes
    assert 'resource.type="ml_job"' in text
    assert "ml.googleapis.com%2F" in text  # Vertex AI's messages, not the replicas' workerpool logs
    assert "workerpool" not in text
    assert "aiplatform.googleapis.com" in text
    assert "CancelCustomJob" in text
    # AND the sink's own identity may publish to that topic, and nothing else is granted it
    grants = _resources(tf, "google_pubsub_topic_iam_member")
    assert grants["sink_publishes"] == {
        "topic": "${google_pubsub_topic.target_events.id}",
        "role": "roles/pubsub.publisher",
        "member": "${google_logging_project_sink.vertex_jobs.writer_identity}",
        **{k: v for k, v in grants["sink_publishes"].items() if k.startswith("__")},
    }
    # AND the push is signed, retried with back-off, and kept only as long as the hint is worth it
    subscription = _resources(tf, "google_pubsub_subscription")["target_events"]
    assert subscription["topic"] == "${google_pubsub_topic.target_events.id}"
    assert subscription["push_config"]["push_endpoint"].startswith(
        '${google_cloudfunctions2_function.launchq["target_events"]'
    )
    assert subscription["push_config"]["oidc_token"]["service_account_email"]
    assert subscription["message_retention_duration"] == "600s"  # Pub/Sub's minimum
    assert subscription["retry_policy"]["maximum_backoff"] == "60s"
    assert "dead_letter_policy" not in subscription
    invoker = _resources(tf, "google_cloud_run_v2_service_iam_member")["push_target_events"]
    assert invoker["member"] == "${google_service_account.push.member}"


def test_uploaded_code_has_a_bucket_of_its_own_that_expires_what_it_keeps(tf: dict[str, Any]) -> None:
    bucket = _resources(tf, "google_storage_bucket")["code"]
    assert (bucket["uniform_bucket_level_access"], bucket["public_access_prevention"]) == (True, "enforced")
    assert bucket["versioning"]["enabled"] is False  # content-addressed: nothing is ever overwritten
    rule = bucket["dynamic"]["lifecycle_rule"]["content"]
    assert rule["condition"] == {"age": "${lifecycle_rule.value}", "matches_prefix": ["code/"]}
    assert rule["action"]["type"] == "Delete"
    variables = {name: body for block in tf["variables.tf"]["variable"] for name, body in block.items()}
    assert variables["code_retention_days"]["default"] == 90
    # the functions are told the bucket, under the code store's prefix
    assert "LAUNCHQ_CODE_BUCKET" in json.dumps(_local(tf, "environment"))
    assert wiring.CODE_PREFIX == "code/"
    # the API creates and reads, never deletes; the launchers only read
    upload = _resources(tf, "google_storage_bucket_iam_member")["code_upload"]
    roles = re.findall(r"roles/[\w.]+", upload["for_each"])
    assert (roles, upload["member"]) == (
        ["roles/storage.objectCreator", "roles/storage.objectViewer"],
        "${local.functions_sa.api}",
    )
    assert (
        _resources(tf, "google_storage_bucket_iam_member")["code_read"]["role"]
        == "roles/storage.objectViewer"
    )
