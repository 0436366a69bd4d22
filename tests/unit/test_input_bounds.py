"""The one config loader and the request bounds: hostile documents refused, W&B users' configs kept."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import ValidationError

from launchq.adapters.targets.local_process import LocalProcessTarget
from launchq.adapters.targets.sagemaker import SageMakerTarget
from launchq.api.errors import register_error_handlers
from launchq.api.limits import (
    MAX_CODE_BODY_BYTES,
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    MAX_ENV_ENTRIES,
    check_json_text_depth,
    load_body,
)
from launchq.api.routes import build_router
from launchq.cli.errors import CliError
from launchq.cli.inputs import load_object
from launchq.config.templates import parse_config_text
from launchq.config.yaml_text import safe_yaml_load
from launchq.domain.models import RunSpec
from launchq.errors import InvalidInput, PayloadTooLarge
from launchq.ports import Target
from launchq.service.queues import QueueCreate, QueuePatch, check_config_fits_target
from tests.functional.aws_harness import CTX as TEST_CONTEXT
from tests.functional.aws_harness import http_event
from tests.unit.cli_fake_server import FakeApi, cli
from tests.unit.fakes import Clock, FakeTarget, services


def alias_bomb(levels: int = 8, width: int = 9) -> str:
    """ "Billion laughs" (9**8 values in 8 lines): each level lists ``width`` aliases of the one below."""
    names = "abcdefghijklmnop"[:levels]
    lines = [f"{names[0]}: &{names[0]} [{','.join(['x'] * width)}]"]
    lines += [f"{n}: &{n} [{','.join([f'*{prev}'] * width)}]" for prev, n in itertools.pairwise(names)]
    return "\n".join(lines) + "\n"


def nested_json(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


# -- YAML --------------------------------------------------------------------------------------
def test_a_billion_laughs_document_is_refused_before_it_expands() -> None:
    bomb = alias_bomb()
    assert len(bomb) < 300

    with pytest.raises(InvalidInput) as refused:
        parse_config_text(bomb)

    assert refused.value.field == "config"
    assert "aliases are expanded" in refused.value.detail
    assert "line " in refused.value.detail


def test_yaml_with_a_few_aliases_and_merge_keys_still_loads() -> None:
    # GIVEN a config written the way W&B users share settings between blocks
    text = (
        "defaults: &defaults {InstanceType: ml.m5.xlarge, InstanceCount: 1, VolumeSizeInGB: 50}\n"
        "ResourceConfig:\n  <<: *defaults\n  InstanceCount: 2\n"
        "tags: &tags [team-a, nightly]\n"
        "also: *tags\n"
    )

    config = parse_config_text(text)

    assert config["ResourceConfig"] == {
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": 2,
        "VolumeSizeInGB": 50,
    }
    assert config["also"] == ["team-a", "nightly"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a: &a [*a]\n", "node containing it"),
        ("[" * 5000 + "]" * 5000, f"nested more than {MAX_DEPTH} levels"),
        ("x: &x 1\n" + "".join(f"k{i}: *x\n" for i in range(200)), "more than 100 aliases"),
        ("a: " + "x" * (MAX_DOCUMENT_BYTES + 1), "limit"),
    ],
)
def test_hostile_yaml_is_refused_naming_why(text: str, words: str) -> None:
    with pytest.raises(yaml.YAMLError):
        safe_yaml_load(text)
    with pytest.raises(InvalidInput) as refused:
        parse_config_text(text, field="config")
    assert words in refused.value.detail


def test_yaml_nesting_up_to_the_bound_loads() -> None:
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    value: Any = safe_yaml_load(text)
    for _ in range(MAX_DEPTH - 1):
        value = value[0]
    assert value == []


# -- JSON --------------------------------------------------------------------------------------
def test_json_depth_is_counted_outside_strings_only() -> None:
    # brackets inside strings (and escaped quotes) do not nest anything
    check_json_text_depth(json.dumps({"a": "[" * 500 + '\\"{' * 100}))
    check_json_text_depth(nested_json(MAX_DEPTH))
    with pytest.raises(InvalidInput) as refused:
        check_json_text_depth(nested_json(MAX_DEPTH + 1), field="body")
    assert refused.value.field == "body"


def test_the_body_deserializer_bounds_size_and_depth_before_parsing() -> None:
    assert load_body('{"a": [1, {"b": "}}}}"}]}') == {"a": [1, {"b": "}}}}"}]}
    with pytest.raises(InvalidInput, match="nested more than"):
        load_body(nested_json(5000))
    with pytest.raises(PayloadTooLarge) as too_large:
        load_body(json.dumps({"env": {"A": "x" * MAX_CODE_BODY_BYTES}}))
    assert too_large.value.field == "body"
    with pytest.raises(json.JSONDecodeError):
        load_body("{oops")


def test_config_text_as_json_is_depth_bounded() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_config_text(nested_json(5000), field="config")
    assert refused.value.field == "config"
    assert "nested more than" in refused.value.detail


# -- run bounds --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"env": {"BIG": "x" * 40_000}}, ("env", "BIG")),
        ({"env": {f"K{i}": "v" for i in range(MAX_ENV_ENTRIES + 1)}}, ("env",)),
        ({"args": ["a"] * 1025}, ("args",)),
        ({"entry_point": ["python"] * 1025}, ("entry_point",)),
        ({"resource_args": {"local-process": {"env": {"A": "x" * 300_000}}}}, ("resource_args",)),
        ({"resource_args": json.loads(nested_json(100))}, ("resource_args",)),
        ({"uri": "https://example.com/" + "a" * 5000}, ("uri",)),
    ],
)
def test_run_bounds_name_the_field(body: dict[str, Any], where: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as refused:
        RunSpec(**body)
    assert refused.value.errors()[0]["loc"] == where


def test_runs_within_the_bounds_are_accepted() -> None:
    spec = RunSpec(env={f"K{i}": "v" * 1000 for i in range(MAX_ENV_ENTRIES)}, args=["a"] * 1024)
    assert len(spec.env) == MAX_ENV_ENTRIES


# -- the CLI uses the same loader ----------------------------------------------------------------
def test_cli_refuses_duplicate_keys_as_the_server_does(tmp_path: Path) -> None:
    # GIVEN the same config with a duplicate key, inline and in files
    path = tmp_path / "queue.yaml"
    path.write_text("env:\n  A: 1\nenv:\n  B: 2\n")
    json_path = tmp_path / "queue.json"
    json_path.write_text('{"env": {}, "env": {}}')

    # THEN the CLI refuses each on one line naming the option (the server refuses them too)
    for value in (str(path), str(json_path), '{"a": 1, "a": 2}'):
        with pytest.raises(CliError) as refused:
            load_object("--config", value)
        message = str(refused.value)
        assert message.startswith("--config: ")
        assert "duplicate key" in message
        assert "\n" not in message
    with pytest.raises(InvalidInput, match="duplicate key"):
        parse_config_text(path.read_text())


def test_cli_refuses_an_alias_bomb_file(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    with pytest.raises(CliError, match=r"-c/--config: YAML refused at line \d+.*aliases are expanded"):
        load_object("-c/--config", str(path))


def test_cli_reads_yaml_flow_style_files_and_dates_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "launch.yml"
    path.write_text("{project: vision, since: 2024-01-01}\n")
    assert load_object("-c/--config", str(path)) == {"project": "vision", "since": "2024-01-01"}


# -- queue configs checked against their target --------------------------------------------------
STAND_IN_VARS = {
    "size": {"type": "string", "enum": ["small", "large"]},
    "name": {"type": "string"},
    "gpus": {"type": "int", "min": 1, "max": 8},
}
SAGEMAKER = {
    "RoleArn": "arn:aws:iam::123456789012:role/training",
    "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
    "OutputDataConfig": {"S3OutputPath": "s3://bucket/models"},
    "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
    "AlgorithmSpecification": {"TrainingImage": "${image_uri}", "TrainingInputMode": "File"},
}


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Target]:
    return {
        "local-process": LocalProcessTarget(tmp_path_factory.mktemp("runs")),
        "sagemaker": SageMakerTarget(client=object(), account_id="123456789012"),  # type: ignore[arg-type]
    }


@pytest.mark.parametrize(
    ("resource", "config", "field"),
    [
        ("local-process", {"x": "{{size}}"}, "config.x"),
        ("local-process", {"local-process": {"colour": "red"}}, "config.local-process.colour"),
        ("local-process", {"grace_period_seconds": "soon"}, "config.grace_period_seconds"),
        ("local-process", {"builder": {"platform": "linux/s390x"}}, "config.builder.platform"),
        ("sagemaker", {**SAGEMAKER, "Colour": "red"}, "config.Colour"),
        ("sagemaker", {"role_arn": "training", "instance_kind": "ml.m5"}, "config.instance_kind"),
        (
            "sagemaker",
            {**SAGEMAKER, "OutputDataConfig": {"S3OutputPath": "gs://x"}},
            "config.OutputDataConfig.S3OutputPath",
        ),
    ],
)
def test_a_config_its_target_cannot_take_is_refused_at_create(
    targets: dict[str, Target], resource: str, config: dict[str, Any], field: str
) -> None:
    body = QueueCreate(name="q", resource=resource, config=config, template_variables=STAND_IN_VARS)
    with pytest.raises(InvalidInput) as refused:
        check_config_fits_target(body, targets[resource])
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("resource", "config"),
    [
        # placeholders stood in by values their variables allow
        (
            "local-process",
            {"env": {"SIZE": "{{size}}", "GPUS": "{{gpus}}"}, "grace_period_seconds": "{{gpus}}"},
        ),
        # a free-text variable could be anything: its stand-in proves nothing
        ("local-process", {"workdir": "{{name}}"}),
        ("local-process", {"{{name}}": {}}),
        ("sagemaker", SAGEMAKER),
        ("sagemaker", {"sagemaker": SAGEMAKER}),
        (
            "sagemaker",
            {
                **SAGEMAKER,
                "ResourceConfig": {
                    "InstanceType": "{{size}}",
                    "InstanceCount": "{{gpus}}",
                    "VolumeSizeInGB": 50,
                },
            },
        ),
        ("sagemaker", {**SAGEMAKER, "OutputDataConfig": {"S3OutputPath": "{{name}}"}}),
        # partial: runs may bring what is missing
        ("sagemaker", {"RoleArn": "training"}),
        ("sagemaker", {"resource_config": {"instance_type": "ml.m5.xlarge", "volume_size_in_gb": 50}}),
    ],
)
def test_configs_that_runs_can_complete_are_accepted(
    targets: dict[str, Target], resource: str, config: dict[str, Any]
) -> None:
    body = QueueCreate(name="q", resource=resource, config=config, template_variables=STAND_IN_VARS)
    check_config_fits_target(body, targets[resource])


def test_queue_config_text_and_patch_are_bounded() -> None:
    with pytest.raises(ValidationError) as refused:
        QueuePatch(config={"env": {"A": "x" * 300_000}})
    assert refused.value.errors()[0]["loc"] == ("config",)
    with pytest.raises(InvalidInput) as bomb:
        QueueCreate(name="q", resource="local-process", config=alias_bomb())
    assert bomb.value.field == "config"


# -- on Lambda: the resolver's body deserializer -------------------------------------------------
CTX: Any = TEST_CONTEXT  # the harness's stand-in for Lambda's context object


@pytest.fixture
def lambda_resolver() -> APIGatewayHttpResolver:
    """Lambda's resolver over the one Router, with ``load_body`` as its JSON body deserializer."""
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=load_body)
    register_error_handlers(app)
    app.include_router(build_router(services(FakeTarget(), Clock())))
    return app


@pytest.mark.parametrize(
    ("text", "status", "field"),
    [
        ('{"entry_point": ["true"], "resource_args": ' + nested_json(5000) + "}", 422, "body"),
        (json.dumps({"entry_point": ["true"], "env": {"A": "x" * (MAX_CODE_BODY_BYTES + 1)}}), 413, "body"),
        ("{oops", 422, "body"),
        (json.dumps({"entry_point": ["true"], "args": ["a"] * 2000}), 422, "args"),
    ],
)
def test_lambda_events_are_bounded_before_validation(
    lambda_resolver: APIGatewayHttpResolver, text: str, status: int, field: str
) -> None:
    # GIVEN an API Gateway HTTP API event carrying a hostile body for an existing queue
    event = http_event("POST", "/queues", {"name": "q", "resource": "local-process"})
    assert lambda_resolver.resolve(event, CTX)["statusCode"] == 201
    event = http_event("POST", "/queues/q/runs")
    event["body"] = text

    # WHEN Lambda's resolver handles it
    response = lambda_resolver.resolve(event, CTX)

    # THEN it is refused naming the field, and nothing was stored
    assert response["statusCode"] == status, response["body"]
    assert json.loads(response["body"])["field"] == field
    runs = lambda_resolver.resolve(http_event("GET", "/runs"), CTX)
    assert json.loads(runs["body"])["runs"] == []


def test_the_cli_prints_one_line_and_exits_2_without_sending(fake: FakeApi, tmp_path: Path) -> None:
    # GIVEN a queue config file the server would refuse (a duplicate key)
    path = tmp_path / "queue.yaml"
    path.write_text("env: {A: '1'}\nenv: {B: '2'}\n")

    # WHEN it is given to queue create and to launch -c
    created = cli(fake, "queue", "create", "q", "--resource", "local-process", "--config", str(path))
    launched = cli(fake, "launch", "-q", "q", "-c", '{"project": "a", "project": "b"}')

    # THEN each is one line naming the option, exit 2, and nothing reached the server
    assert created.exit_code == 2
    assert created.stderr == (
        f"Error: --config: malformed YAML at line 2, column 1: found duplicate key 'env' (in {str(path)!r})\n"
    )
    assert launched.exit_code == 2
    assert launched.stderr == "Error: -c/--config: duplicate key 'project'\n"
    assert fake.requests == []
