"""The SAM template: valid, lint-clean, and wired the way the design says (what `sam build`
makes of it is checked in test_sam_build_imports)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from launchq.adapters.stores.dynamodb_items import table_definition
from launchq.domain.models import DEFAULT_ENTITY, NAME_PATTERN

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, ...) as plain values."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _tag)
TEMPLATE = yaml.load((REPO / "template.yaml").read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
RESOURCES = TEMPLATE["Resources"]


def _run(*argv: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def test_sam_validate_lint_and_cfn_lint_are_clean() -> None:
    validated = _run(str(BIN / "sam"), "validate", "--lint")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    linted = _run(str(BIN / "cfn-lint"), "template.yaml")
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_dispatcher_reports_partial_batch_failures_and_cannot_stampede() -> None:
    dispatcher = RESOURCES["DispatcherFunction"]["Properties"]
    doorbell = dispatcher["Events"]["Doorbell"]["Properties"]
    assert doorbell["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert doorbell["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "DispatcherConcurrency"}
    assert dispatcher["ReservedConcurrentExecutions"] == {"Ref": "DispatcherConcurrency"}
    redrive = RESOURCES["DoorbellQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"GetAtt": "DoorbellDeadLetterQueue.Arn"}


def test_table_is_on_demand_with_ttl_and_point_in_time_recovery() -> None:
    table = RESOURCES["Table"]["Properties"]
    expected = table_definition("x")
    for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode"):
        assert table[key] == expected[key], key
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"]["Enabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_every_function_uses_the_layer_and_its_own_least_privilege_policies() -> None:
    assert TEMPLATE["Globals"]["Function"]["Layers"] == [{"Ref": "LaunchqLayer"}]
    functions = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}
    assert set(functions) == {
        "ApiFunction",
        "DispatcherFunction",
        "ReconcilerFunction",
        "EventsFunction",
        "AuthorizerFunction",  # called only with ApiAuth=API_KEY
    }
    for name, function in functions.items():
        for policy in function["Properties"]["Policies"]:
            for statement in policy.get("Statement", []):
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                assert not [a for a in actions if a == "*" or a.endswith(":*")], (name, actions)
    passrole = yaml.safe_dump(functions["DispatcherFunction"]["Properties"]["Policies"])
    assert "iam:PassedToService" in passrole
    api_passrole = [s for s in _statements(functions["ApiFunction"]) if "iam:PassRole" in _actions(s)]
    assert api_passrole == [
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": {"GetAtt": "SchedulerRole.Arn"},
            "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
        }
    ]


def test_status_is_pushed_by_eventbridge_for_training_jobs_and_builds() -> None:
    events = RESOURCES["EventsFunction"]["Properties"]["Events"]
    patterns = [e["Properties"]["Pattern"]["detail-type"][0] for e in events.values()]
    assert sorted(patterns) == ["CodeBuild Build State Change", "SageMaker Training Job State Change"]
    schedule = RESOURCES["ReconcilerFunction"]["Properties"]["Events"]["EveryMinute"]["Properties"]
    assert schedule["ScheduleExpression"] == "rate(1 minute)"


def _statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for policy in function["Properties"]["Policies"] for s in policy.get("Statement", [])]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return list(action) if isinstance(action, list) else [action]


def test_the_scheduler_role_can_only_invoke_the_events_function() -> None:
    role = RESOURCES["SchedulerRole"]["Properties"]
    trust = role["AssumeRolePolicyDocument"]["Statement"]
    assert [(s["Principal"], s["Action"]) for s in trust] == [
        ({"Service": "scheduler.amazonaws.com"}, "sts:AssumeRole")
    ]
    assert trust[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    assert statements == [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": {"GetAtt": "EventsFunction.Arn"}}
    ]
    assert "ManagedPolicyArns" not in role


def test_the_api_manages_schedules_of_its_own_group_and_points_them_at_the_events_function() -> None:
    assert RESOURCES["ScheduleGroup"]["Type"] == "AWS::Scheduler::ScheduleGroup"
    api = RESOURCES["ApiFunction"]
    assert api["Properties"]["Environment"]["Variables"] == {
        "LAUNCHQ_SCHEDULE_GROUP": {"Ref": "ScheduleGroup"},
        "LAUNCHQ_SCHEDULER_TARGET_ARN": {"GetAtt": "EventsFunction.Arn"},
        "LAUNCHQ_SCHEDULER_ROLE_ARN": {"GetAtt": "SchedulerRole.Arn"},
        "LAUNCHQ_API_AUTH": {"Ref": "ApiAuth"},
    }
    scheduler = [s for s in _statements(api) if any(a.startswith("scheduler:") for a in _actions(s))]
    assert len(scheduler) == 1
    assert sorted(scheduler[0]["Action"]) == [
        "scheduler:CreateSchedule",
        "scheduler:DeleteSchedule",
        "scheduler:GetSchedule",
        "scheduler:UpdateSchedule",
    ]
    assert scheduler[0]["Resource"] == {
        "Sub": "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${ScheduleGroup}/*"
    }
    for name in ("DispatcherFunction", "ReconcilerFunction", "EventsFunction"):
        assert "scheduler:" not in yaml.safe_dump(RESOURCES[name]["Properties"]["Policies"]), name
        assert "SCHEDULER" not in yaml.safe_dump(RESOURCES[name]["Properties"].get("Environment", {})), name


# -- image builds ----------------------------------------------------------------------------
_BUILD_SERVICES = ("codebuild", "s3", "ecr")
_ARTIFACT_RESOURCES = (
    {"GetAtt": "ArtifactBucket.Arn"},
    {"Sub": "${ArtifactBucket.Arn}/build-contexts/*"},
    {"Sub": "${ArtifactBucket.Arn}/code/*"},
)
_CODEBUILD_LOGS = {
    "Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}"
    ":log-group:/aws/codebuild/${BuildProject}:*"
}


def _functions() -> dict[str, dict[str, Any]]:
    return {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}


def _resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return list(resource) if isinstance(resource, list) else [resource]


def _granted(function: dict[str, Any]) -> dict[str, list[Any]]:
    """Each build-related action (codebuild, s3, ecr, CodeBuild logs) and what it is granted on."""
    granted: dict[str, list[Any]] = {}
    for statement in _statements(function):
        for action in _actions(statement):
            resources = _resources(statement)
            if action.split(":")[0] in _BUILD_SERVICES or _CODEBUILD_LOGS in resources:
                granted.setdefault(action, []).extend(resources)
    return granted


def test_every_function_is_told_the_build_project_bucket_and_repository() -> None:
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["LAUNCHQ_BUILD_PROJECT"] == {"Ref": "BuildProject"}
    assert variables["LAUNCHQ_ARTIFACT_BUCKET"] == {"Ref": "ArtifactBucket"}
    assert variables["LAUNCHQ_IMAGE_REPOSITORY_URI"] == {"GetAtt": "ImageRepository.RepositoryUri"}
    for name in ("BuildProject", "ArtifactBucket", "ImageRepository", "BuildRole"):  # no cycle via Globals
        assert "Function" not in yaml.safe_dump(RESOURCES[name]), name


def test_build_permissions_are_scoped_to_the_stacks_project_bucket_prefixes_and_repository() -> None:
    for name, function in _functions().items():
        for action, resources in _granted(function).items():
            assert "*" not in resources, (name, action)
            service = action.split(":")[0]
            if service == "codebuild":
                assert resources == [{"GetAtt": "BuildProject.Arn"}], (name, action)
            elif service == "s3":
                assert all(r in _ARTIFACT_RESOURCES for r in resources), (name, action, resources)
            elif service == "ecr":
                assert resources == [{"GetAtt": "ImageRepository.Arn"}], (name, action)
            else:
                assert resources == [_CODEBUILD_LOGS], (name, action)


def test_each_function_gets_only_the_build_actions_it_uses() -> None:
    granted = {name: _granted(function) for name, function in _functions().items()}
    bucket, contexts, code = _ARTIFACT_RESOURCES
    # the dispatcher: is the tag in ECR, read uploaded code, write the context, start the build
    assert granted["DispatcherFunction"] == {
        "ecr:DescribeImages": [{"GetAtt": "ImageRepository.Arn"}],
        "codebuild:StartBuild": [{"GetAtt": "BuildProject.Arn"}],
        "codebuild:BatchGetBuilds": [{"GetAtt": "BuildProject.Arn"}],
        "s3:GetObject": [contexts, code],
        "s3:PutObject": [contexts],
        "s3:AbortMultipartUpload": [contexts],
        "s3:ListBucket": [bucket],  # HeadObject on a missing key: 404, not 403
    }
    # the reconciler and the events function follow builds (status, failure log), start none
    for name in ("ReconcilerFunction", "EventsFunction"):
        assert granted[name] == {
            "codebuild:BatchGetBuilds": [{"GetAtt": "BuildProject.Arn"}],
            "logs:GetLogEvents": [_CODEBUILD_LOGS],
        }, name
        statements = _statements(_functions()[name])
        submit = [s for s in statements if "sagemaker:CreateTrainingJob" in _actions(s)]
        assert submit, name  # a finished build is submitted from here
        passrole = [s for s in statements if "iam:PassRole" in _actions(s)]
        assert passrole == [
            s for s in _statements(_functions()["DispatcherFunction"]) if "iam:PassRole" in _actions(s)
        ]
    # the API stores uploaded code (code/ only) and reads build logs
    assert granted["ApiFunction"] == {
        "s3:GetObject": [code],
        "s3:PutObject": [code],
        "s3:ListBucket": [bucket],
        "codebuild:BatchGetBuilds": [{"GetAtt": "BuildProject.Arn"}],
        "logs:GetLogEvents": [_CODEBUILD_LOGS],
    }


def test_build_events_reach_the_events_function_only_for_the_stacks_project() -> None:
    pattern = RESOURCES["EventsFunction"]["Properties"]["Events"]["BuildState"]["Properties"]["Pattern"]
    assert pattern == {
        "source": ["aws.codebuild"],
        "detail-type": ["CodeBuild Build State Change"],
        "detail": {"project-name": [{"Ref": "BuildProject"}]},
    }


# -- the HTTP API and the deployment's entity ------------------------------------------------
def test_the_api_route_is_signed_by_default_and_open_only_when_asked() -> None:
    assert TEMPLATE["Parameters"]["ApiAuth"]["Default"] == "AWS_IAM"
    assert TEMPLATE["Conditions"]["OpenApi"] == {"Equals": [{"Ref": "ApiAuth"}, "NONE"]}
    route = RESOURCES["HttpApiRoute"]["Properties"]
    assert route["RouteKey"] == "ANY /{proxy+}"
    assert route["AuthorizationType"] == {"If": ["OpenApi", "NONE", {"If": ["KeyAuth", "CUSTOM", "AWS_IAM"]}]}
    assert route["AuthorizerId"] == {
        "If": ["KeyAuth", {"Ref": "HttpApiKeyAuthorizer"}, {"Ref": "AWS::NoValue"}]
    }
    assert route["Target"] == {"Sub": "integrations/${HttpApiIntegration}"}
    integration = RESOURCES["HttpApiIntegration"]["Properties"]
    assert integration["IntegrationUri"] == {"GetAtt": "ApiFunction.Arn"}
    assert integration["PayloadFormatVersion"] == "2.0"  # what APIGatewayHttpResolver reads
    permission = RESOURCES["ApiInvokePermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": "ApiFunction"}
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert "${HttpApi}/" in permission["SourceArn"]["Sub"]  # this API only, not any API Gateway
    stage = dict(RESOURCES["HttpApiStage"]["Properties"])
    # logged and throttled (test_template_security checks what is logged), nothing else added
    assert stage.pop("AccessLogSettings")["DestinationArn"] == {"GetAtt": "HttpApiAccessLogs.Arn"}
    assert stage.pop("DefaultRouteSettings") == {
        "ThrottlingRateLimit": {"Ref": "ApiThrottleRate"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurst"},
    }
    assert stage == {
        "ApiId": {"Ref": "HttpApi"},
        "StageName": "$default",
        "AutoDeploy": True,
    }


def test_every_function_is_told_the_entity_under_the_same_rules_as_the_code() -> None:
    entity = TEMPLATE["Parameters"]["Entity"]
    assert entity["Default"] == DEFAULT_ENTITY
    assert entity["AllowedPattern"] == NAME_PATTERN
    assert TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["LAUNCHQ_ENTITY"] == {"Ref": "Entity"}


_EKS_POLICY = {
    "If": [
        "HasEksClusters",
        {
            "Statement": [
                {"Effect": "Allow", "Action": "eks:DescribeCluster", "Resource": {"Ref": "EksClusterArns"}}
            ]
        },
        {"Ref": "AWS::NoValue"},
    ]
}


def test_eks_describe_cluster_is_granted_on_the_named_clusters_only_and_only_when_named() -> None:
    # GIVEN the stack's parameters: no EKS cluster named by default
    parameters, conditions = TEMPLATE["Parameters"], TEMPLATE["Conditions"]
    assert parameters["EksClusterArns"]["Type"] == "CommaDelimitedList"
    assert parameters["EksClusterArns"]["Default"] == ""
    assert conditions["HasEksClusters"] == {
        "Not": [{"Equals": [{"Join": ["", {"Ref": "EksClusterArns"}]}, ""]}]
    }
    # THEN the functions that submit, poll, stop and read logs of kubernetes runs may describe
    # exactly those clusters (the token itself is a presigned STS call: no permission)
    for name, function in _functions().items():
        policies = function["Properties"]["Policies"]
        eks = [p for p in policies if "eks" in yaml.safe_dump(p)]
        expected = [] if name in ("EventsFunction", "AuthorizerFunction") else [_EKS_POLICY]
        assert eks == expected, name
        assert not [s for s in _statements(function) if any(a.startswith("eks:") for a in _actions(s))], name


def test_eks_access_entries_map_the_function_roles_to_one_group_with_no_access_policy() -> None:
    parameters, conditions = TEMPLATE["Parameters"], TEMPLATE["Conditions"]
    assert parameters["EksClusterName"]["Default"] == ""
    assert parameters["EksKubernetesGroup"]["Default"] == "launchq-dispatcher"
    assert conditions["HasEksAccessEntry"] == {"Not": [{"Equals": [{"Ref": "EksClusterName"}, ""]}]}
    entries = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::EKS::AccessEntry"}
    assert set(entries) == {"ApiEksAccessEntry", "DispatcherEksAccessEntry", "ReconcilerEksAccessEntry"}
    for name, entry in entries.items():
        function = name.removesuffix("EksAccessEntry") + "Function"
        assert entry["Condition"] == "HasEksAccessEntry"  # only when a cluster is named
        assert entry["Properties"] == {
            "ClusterName": {"Ref": "EksClusterName"},
            "PrincipalArn": {"GetAtt": f"{function}Role.Arn"},  # the role SAM makes for the function
            "Type": "STANDARD",
            "KubernetesGroups": [{"Ref": "EksKubernetesGroup"}],  # RBAC decides; no AccessPolicies
        }
    outputs = TEMPLATE["Outputs"]
    assert "create-access-entry" in outputs["EksPrincipalArns"]["Description"]
    assert "create rolebinding" in outputs["EksAccessEntry"]["Description"]


def test_api_keys_put_an_uncached_authorizer_on_the_route_only_when_asked() -> None:
    assert "API_KEY" in TEMPLATE["Parameters"]["ApiAuth"]["AllowedValues"]
    assert TEMPLATE["Conditions"]["KeyAuth"] == {"Equals": [{"Ref": "ApiAuth"}, "API_KEY"]}
    authorizer = RESOURCES["HttpApiKeyAuthorizer"]
    assert authorizer["Condition"] == "KeyAuth"
    properties = authorizer["Properties"]
    assert (properties["AuthorizerType"], properties["AuthorizerPayloadFormatVersion"]) == ("REQUEST", "2.0")
    assert properties["EnableSimpleResponses"] is True
    assert properties["AuthorizerResultTtlInSeconds"] == 0  # a revoke holds from the next request
    assert properties["IdentitySource"] == ["$request.header.Authorization"]
    assert "${AuthorizerFunction.Arn}" in properties["AuthorizerUri"]["Sub"]
    function = RESOURCES["AuthorizerFunction"]
    assert function["Properties"]["Handler"] == "authorizer.handler"
    # it reads keys and nothing else
    (statement,) = function["Properties"]["Policies"][0]["Statement"]
    assert statement["Action"] == "dynamodb:GetItem"
    assert RESOURCES["AuthorizerInvokePermission"]["Condition"] == "KeyAuth"
    api_env = RESOURCES["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert api_env["LAUNCHQ_API_AUTH"] == {"Ref": "ApiAuth"}


def test_the_doorbell_dead_letter_queue_is_an_output_for_dlq_drain() -> None:
    output = TEMPLATE["Outputs"]["DoorbellDeadLetterQueueUrl"]
    assert output["Value"] == {"Ref": "DoorbellDeadLetterQueue"}
    assert "launchq dlq drain" in output["Description"]
