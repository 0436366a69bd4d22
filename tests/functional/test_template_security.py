"""The AWS stack is hardened by default, and a scanner says so: checkov runs on template.yaml
in every `make test` and any failed check fails it.

checkov reads the SAM resources as written (Globals merged in), offline (infra/checkov.yaml).
It cannot tell a customer-managed key from an `!If` that names one only when KmsKeyArn is
set, so the tests below pin what each default actually is, and what CloudFormation gets
after the SAM transform. Every skipped check is listed here with its resource: a new skip
is a change to this file, and its reason must be written on the resource in the template.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from tests.functional.test_sam_template import REPO, RESOURCES, TEMPLATE

# The Makefile installs checkov into a virtualenv of its own, inside the tests' one.
CHECKOV = Path(sys.executable).parent.parent / "checkov" / "bin" / "checkov"
INSTALL_HINT = (
    f"checkov is not installed at {CHECKOV}: `make setup` (or `make test`) installs it into "
    "$(VENV)/checkov from the hash-locked infra/requirements/checkov.txt"
)
# (check, resource) -> why; the reason itself lives on the resource in template.yaml
EXPECTED_SKIPS = {
    ("CKV_AWS_18", "AWS::S3::Bucket.AccessLogBucket"),  # the access-log bucket itself
    ("CKV_AWS_136", "AWS::ECR::Repository.ImageRepository"),  # AES-256 unless KmsKeyArn
    ("CKV_AWS_116", "AWS::Serverless::Function.ApiFunction"),  # synchronous: no DLQ applies
    ("CKV_AWS_116", "AWS::Serverless::Function.DispatcherFunction"),  # SQS redrive instead
    ("CKV_AWS_116", "AWS::Serverless::Function.AuthorizerFunction"),  # synchronous: no DLQ applies
}
KMS_KEY = {"If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]}
NO_VPC_DENY = [
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]


def _checkov(template: Path) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(INSTALL_HINT)
    done = subprocess.run(
        [str(CHECKOV), "--config-file", str(REPO / "infra/checkov.yaml"), "-f", str(template), "-o", "json"],
        cwd=template.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1: some check failed
    report = json.loads(done.stdout)
    assert isinstance(report, dict), "one framework (cloudformation) gives one report"
    assert report["check_type"] == "cloudformation"
    return report


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return _checkov(REPO / "template.yaml")


def _functions() -> dict[str, dict[str, Any]]:
    return {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}


def test_checkov_passes_every_check_on_the_template(report: dict[str, Any]) -> None:
    summary = report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]
    ]
    assert failed == [], "\n".join(failed)
    assert summary["failed"] == 0
    assert summary["parsing_errors"] == 0
    # it read the whole stack, SAM functions included, not an empty or unparsed file
    assert summary["resource_count"] >= 30
    assert summary["passed"] >= 85
    scanned = {c["resource"] for c in report["results"]["passed_checks"]}
    assert {f"AWS::Serverless::Function.{name}" for name in _functions()} <= scanned


def test_every_skip_is_on_its_resource_with_the_reason(report: dict[str, Any]) -> None:
    skipped = report["results"]["skipped_checks"]
    assert {(c["check_id"], c["resource"]) for c in skipped} == EXPECTED_SKIPS
    for check in skipped:
        reason = check["check_result"]["suppress_comment"].strip()
        assert len(reason) > 60, (check["check_id"], check["resource"], reason)
    # no blanket skip: the config skips nothing and lets nothing fail softly
    config = yaml.safe_load((REPO / "infra/checkov.yaml").read_text())
    assert not {k for k in config if k.startswith(("skip-check", "soft-fail", "check", "hard-fail"))}
    assert config["skip-download"] is True  # offline: nothing fetched from outside


def test_a_weakened_template_fails_the_scan(tmp_path: Path) -> None:
    """The scan does catch a regression: the artifact bucket without versioning and a
    function without reserved concurrency are reported, by check and resource."""
    weakened = (REPO / "template.yaml").read_text()
    for removed in (  # the first pair of lines is ArtifactBucket's alone
        "      VersioningConfiguration: {Status: Enabled}\n      LoggingConfiguration:\n",
        "      ReservedConcurrentExecutions: !Ref ApiConcurrency\n",
    ):
        assert weakened.count(removed) == 1, removed
        weakened = weakened.replace(removed, removed.partition("\n")[2])
    (tmp_path / "template.yaml").write_text(weakened)
    failed = {
        (c["check_id"], c["resource"])
        for c in _checkov(tmp_path / "template.yaml")["results"]["failed_checks"]
    }
    assert failed == {
        ("CKV_AWS_21", "AWS::S3::Bucket.ArtifactBucket"),
        ("CKV_AWS_115", "AWS::Serverless::Function.ApiFunction"),
    }


# -- what each default is ---------------------------------------------------------------------
def test_defaults_deploy_in_a_fresh_account_with_aws_managed_keys_and_no_vpc() -> None:
    parameters, conditions = TEMPLATE["Parameters"], TEMPLATE["Conditions"]
    assert parameters["KmsKeyArn"]["Default"] == ""
    assert parameters["SubnetIds"]["Default"] == ""
    assert parameters["SecurityGroupIds"]["Default"] == ""
    assert conditions["HasKmsKey"] == {"Not": [{"Equals": [{"Ref": "KmsKeyArn"}, ""]}]}
    assert conditions["InVpc"] == {"Not": [{"Equals": [{"Join": ["", {"Ref": "SubnetIds"}]}, ""]}]}
    # subnets without security groups are refused before anything is created
    rule = TEMPLATE["Rules"]["VpcPlacementNeedsSecurityGroups"]
    assert "SubnetIds" in json.dumps(rule["RuleCondition"])
    assert "SecurityGroupIds" in json.dumps(rule["Assertions"])


def test_everything_stored_is_encrypted_and_takes_the_key_when_one_is_named() -> None:
    assert TEMPLATE["Globals"]["Function"]["KmsKeyArn"] == KMS_KEY  # environment variables
    table = RESOURCES["Table"]["Properties"]["SSESpecification"]
    assert table == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": KMS_KEY}
    queues = {k: v["Properties"] for k, v in RESOURCES.items() if v["Type"] == "AWS::SQS::Queue"}
    assert set(queues) == {"DoorbellQueue", "DoorbellDeadLetterQueue", "FunctionDeadLetterQueue"}
    for name, queue in queues.items():  # SSE-SQS, or the key: never neither
        assert queue["SqsManagedSseEnabled"] == {"If": ["HasKmsKey", False, True]}, name
        assert queue["KmsMasterKeyId"] == KMS_KEY, name
    assert RESOURCES["ImageRepository"]["Properties"]["EncryptionConfiguration"] == {
        "If": [
            "HasKmsKey",
            {"EncryptionType": "KMS", "KmsKey": {"Ref": "KmsKeyArn"}},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert _bucket_encryption("ArtifactBucket") == {
        "If": [
            "HasKmsKey",
            {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Ref": "KmsKeyArn"}},
            {"SSEAlgorithm": "AES256"},
        ]
    }
    assert _bucket_encryption("AccessLogBucket") == {"SSEAlgorithm": "AES256"}  # S3 logs need SSE-S3


def _bucket_encryption(bucket: str) -> Any:
    (rule,) = RESOURCES[bucket]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    return rule["ServerSideEncryptionByDefault"]


def test_a_named_key_is_usable_by_exactly_the_roles_that_read_or_write_what_it_encrypts() -> None:
    policy = RESOURCES["KmsKeyUsePolicy"]
    assert policy["Condition"] == "HasKmsKey"
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": {"Ref": "KmsKeyArn"},
        }
    ]
    roles = [r["Ref"] for r in policy["Properties"]["Roles"]]
    assert sorted(roles) == sorted([f"{name}Role" for name in _functions()] + ["BuildRole", "TrainingRole"])


def test_functions_outside_a_vpc_cannot_manage_network_interfaces() -> None:
    assert TEMPLATE["Globals"]["Function"]["VpcConfig"] == {
        "If": [
            "InVpc",
            {"SubnetIds": {"Ref": "SubnetIds"}, "SecurityGroupIds": {"Ref": "SecurityGroupIds"}},
            {"Ref": "AWS::NoValue"},
        ]
    }
    deny = RESOURCES["NoVpcNetworkInterfacesPolicy"]
    assert "Condition" not in deny  # it must outlive a move into a VPC (see the template)
    (statement,) = deny["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Action"] == NO_VPC_DENY
    condition, in_vpc, outside = statement["Resource"]["If"]
    assert (condition, outside) == ("InVpc", "*")
    assert in_vpc["Sub"].endswith(":network-interface/eni-none")
    assert sorted(r["Ref"] for r in deny["Properties"]["Roles"]) == sorted(f"{n}Role" for n in _functions())


def test_the_api_access_log_names_no_header_and_no_log_is_kept_forever() -> None:
    stage = RESOURCES["HttpApiStage"]["Properties"]
    assert stage["AccessLogSettings"]["DestinationArn"] == {"GetAtt": "HttpApiAccessLogs.Arn"}
    fields = json.loads(stage["AccessLogSettings"]["Format"])
    assert {"requestId", "ip", "caller", "method", "path", "status"} <= set(fields)
    assert all(v.startswith("$context.") for v in fields.values())
    assert not [v for v in fields.values() if "header" in v.lower() or "authorization" in v.lower()]
    assert TEMPLATE["Parameters"]["LogRetentionDays"]["Default"] == 365
    groups = {k: v["Properties"] for k, v in RESOURCES.items() if v["Type"] == "AWS::Logs::LogGroup"}
    assert set(groups) == {"HttpApiAccessLogs"} | {f"{name}Logs" for name in _functions()}
    for name, group in groups.items():  # nothing kept forever
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        assert group["KmsKeyId"] == KMS_KEY, name


def test_the_artifact_bucket_is_versioned_logged_and_tls_only() -> None:
    bucket = RESOURCES["ArtifactBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": "AccessLogBucket"},
        "LogFilePrefix": "artifacts/",
    }
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-old-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
    assert RESOURCES["AccessLogBucket"]["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    for name in ("ArtifactBucket", "AccessLogBucket"):
        statements = RESOURCES[f"{name}Policy"]["Properties"]["PolicyDocument"]["Statement"]
        (tls,) = [s for s in statements if s["Effect"] == "Deny"]
        assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, name
        assert tls["Resource"] == [{"GetAtt": f"{name}.Arn"}, {"Sub": f"${{{name}.Arn}}/*"}], name
    # only S3's log delivery may write into the log bucket, only for this stack's bucket
    statements = RESOURCES["AccessLogBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Action"] == "s3:PutObject"
    assert allow["Condition"]["ArnLike"] == {"aws:SourceArn": {"GetAtt": "ArtifactBucket.Arn"}}
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_every_function_has_bounded_concurrency_and_async_ones_a_dead_letter_queue() -> None:
    reserved = {name: f["Properties"]["ReservedConcurrentExecutions"] for name, f in _functions().items()}
    assert reserved == {
        "ApiFunction": {"Ref": "ApiConcurrency"},
        "DispatcherFunction": {"Ref": "DispatcherConcurrency"},
        "ReconcilerFunction": 1,
        "EventsFunction": {"Ref": "EventsConcurrency"},
        "AuthorizerFunction": {"Ref": "ApiConcurrency"},  # one call per API request
    }
    dead_letter = {name: f["Properties"].get("DeadLetterQueue") for name, f in _functions().items()}
    to_dlq = {"Type": "SQS", "TargetArn": {"GetAtt": "FunctionDeadLetterQueue.Arn"}}
    assert dead_letter == {
        "ApiFunction": None,  # synchronous (API Gateway): skipped in checkov, with the reason
        "DispatcherFunction": None,  # SQS event source: DoorbellDeadLetterQueue by redrive
        "ReconcilerFunction": to_dlq,
        "EventsFunction": to_dlq,
        "AuthorizerFunction": None,  # synchronous (API Gateway): skipped in checkov, with the reason
    }
    assert RESOURCES["FunctionDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"] == 1209600


# -- what CloudFormation gets after the SAM transform -------------------------------------------
def _transformed(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The template as SAM hands it to CloudFormation (local paths as S3 URIs, which is what
    `sam deploy` uploads them to; AWS-managed policy ARNs from a fixed table)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    text = (REPO / "template.yaml").read_text()
    text = text.replace("CodeUri: functions/aws/", "CodeUri: s3://bucket/functions.zip")
    text = text.replace("ContentUri: shared/", "ContentUri: s3://bucket/layer.zip")

    class _Policies:
        def load(self) -> dict[str, str]:
            names = (
                "AWSLambdaBasicExecutionRole",
                "AWSLambdaVPCAccessExecutionRole",
                "AWSLambdaSQSQueueExecutionRole",
            )
            table = {n: f"arn:aws:iam::aws:policy/service-role/{n}" for n in names}
            return {**table, "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"}

    result: dict[str, Any] = transform(yaml_parse(text), {}, _Policies())
    return result


def test_the_hardening_reaches_the_lambda_functions_cloudformation_creates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resources = _transformed(monkeypatch)["Resources"]
    for name in _functions():
        function = resources[name]
        assert function["Type"] == "AWS::Lambda::Function"
        properties = function["Properties"]
        assert properties["KmsKeyArn"] == {
            "Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]
        }
        assert properties["VpcConfig"]["Fn::If"][0] == "InVpc"
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["LoggingConfig"] == {"LogGroup": {"Ref": f"{name}Logs"}}
        # SAM gives every role the VPC policy, whatever the condition: hence the deny policy
        managed = resources[f"{name}Role"]["Properties"]["ManagedPolicyArns"]
        assert any(arn.endswith("/AWSLambdaVPCAccessExecutionRole") for arn in managed), name
    for name in ("ReconcilerFunction", "EventsFunction"):
        assert resources[name]["Properties"]["DeadLetterConfig"] == {
            "TargetArn": {"Fn::GetAtt": ["FunctionDeadLetterQueue", "Arn"]}
        }


def test_make_setup_installs_checkov_alone_in_its_own_hash_locked_virtualenv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    dry = _dry_run("setup", venv)
    assert f"-m venv {venv}/checkov" in dry
    pip = f"{venv}/checkov/bin/python -m pip install -q --require-hashes -r infra/requirements/checkov.txt"
    assert pip in dry
    run = _dry_run("run", venv)
    assert "checkov" not in run  # `make run` installs the server alone
    lock = (REPO / "infra/requirements/checkov.txt").read_text()
    pins = [line for line in lock.splitlines() if line and not line.startswith((" ", "#"))]
    assert any(p.startswith("checkov==") for p in pins)
    assert all(p.split()[0].count("==") == 1 for p in pins)
    assert lock.count("--hash=sha256:") >= len(pins)
    assert "checkov" not in (REPO / "infra/requirements/dev.txt").read_text().lower()


def _dry_run(target: str, venv: Path) -> str:
    """What `make -n TARGET` would run on a machine whose virtualenv is still to be made."""
    argv = ["make", "-n", target, f"VENV={venv}"]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60, check=True).stdout
