"""A queue config's ``secrets`` (``launchq.config.secrets``): its two forms, each target's
sources, ``valueFrom.secretKeyRef`` on Kubernetes, and mistakes refused naming the field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from launchq import redaction
from launchq.adapters.targets.kubernetes_spec import build_object
from launchq.adapters.targets.local_config import parse_config
from launchq.adapters.targets.local_secrets import secret_env
from launchq.config.resolve import resolve_resource_args
from launchq.config.secrets import EnvSecret, FileSecret, KubernetesSecret, parse_secrets
from launchq.domain.models import Queue, RunSpec
from launchq.errors import InvalidInput, LaunchFailed
from tests.unit.k8s_checks import launchq_problems, schema_problems

NOW = datetime(2026, 11, 30, tzinfo=UTC)
ALL = ("env", "file", "kubernetes", "secretsmanager", "ssm")


def test_the_compact_and_the_object_forms_mean_the_same() -> None:
    compact = parse_secrets(
        {"A": "env:HF_TOKEN", "B": "file:/run/secrets/b", "C": "k8s:wandb/api-key"}, "secrets", ALL
    )
    full = parse_secrets(
        {
            "A": {"from": "env", "name": "HF_TOKEN"},
            "B": {"from": "file", "path": "/run/secrets/b"},
            "C": {"from": "kubernetes", "name": "wandb", "key": "api-key"},
        },
        "secrets",
        ALL,
    )
    assert compact == full
    assert isinstance(full["A"], EnvSecret)
    assert isinstance(full["B"], FileSecret)
    assert isinstance(full["C"], KubernetesSecret)


@pytest.mark.parametrize(
    ("secrets", "field", "words"),
    [
        ({"1BAD": "env:X"}, "secrets.1BAD", "not an environment variable name"),
        ({"A": "HF_TOKEN"}, "secrets.A", "<source>:<reference>"),
        ({"A": "vault:x"}, "secrets.A", "<source>:<reference>"),
        ({"A": "env:NOT-A-NAME"}, "secrets.A.name", "not an environment variable name"),
        ({"A": "file:relative/path"}, "secrets.A.path", "not an absolute path"),
        ({"A": "k8s:Upper/key"}, "secrets.A.name", "not a Secret name"),
        ({"A": "k8s:only-a-name"}, "secrets.A.key", "not a Secret key"),
        ({"A": {"from": "env"}}, "secrets.A.name", "Field required"),
        ({"A": {"from": "env", "name": "X", "value": "plain"}}, "secrets.A.value", "Extra inputs"),
        ({"A": {"from": "nowhere"}}, "secrets.A", "from: must be one of"),
        ({"A": 42}, "secrets.A", "<source>:<reference>"),
        (["A"], "secrets", "must be a mapping"),
    ],
)
def test_mistakes_are_refused_naming_the_field(secrets: Any, field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_secrets(secrets, "secrets", ALL)
    assert caught.value.field == field
    assert words in caught.value.detail


def test_aws_secrets_are_validated_then_refused_with_the_reason() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_config({"secrets": {"OPENAI": "secretsmanager:prod/openai"}})
    assert caught.value.field == "resource_args.local-process.secrets.OPENAI"
    assert "store the value in the clear" in caught.value.detail
    with pytest.raises(InvalidInput) as bad_name:
        parse_config({"secrets": {"OPENAI": "ssm:has spaces"}})
    assert bad_name.value.field == "resource_args.local-process.secrets.OPENAI.name"


def test_local_process_reads_env_and_file_secrets_and_remembers_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redaction, "_remembered", set())
    secret_file = tmp_path / "db"
    secret_file.write_text("file-secret-value\n")
    env = secret_env({"HF_TOKEN": "env:SERVER_HF", "DB": f"file:{secret_file}"}, {"SERVER_HF": "hf_from_env"})
    assert env == {"HF_TOKEN": "hf_from_env", "DB": "file-secret-value"}
    assert redaction.redact("hf_from_env file-secret-value") == "*** ***"


def test_a_missing_secret_fails_the_launch_naming_it_not_its_value(tmp_path: Path) -> None:
    with pytest.raises(LaunchFailed, match="secret HF_TOKEN: the server's environment has no SERVER_HF"):
        secret_env({"HF_TOKEN": "env:SERVER_HF"}, {})
    with pytest.raises(LaunchFailed, match="secret DB: cannot read"):
        secret_env({"DB": f"file:{tmp_path / 'absent'}"}, {})


def test_a_local_process_queue_refuses_a_kubernetes_secret() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_config({"secrets": {"A": "k8s:wandb/key"}})
    assert caught.value.field == "resource_args.local-process.secrets.A"
    assert "takes: env, file" in caught.value.detail


def _job(secrets: Any, env: dict[str, str] | None = None) -> dict[str, Any]:
    spec = RunSpec(docker_image="busybox:1", entry_point=["sh"], env=env or {})
    config = {"secrets": secrets, "spec": {"template": {"spec": {"containers": [{"name": "main"}]}}}}
    obj = build_object(spec, config, run_id="3f2a9c0e1b7d4a55", queue="k8s", entity="team")
    assert schema_problems(obj.body) == []
    assert launchq_problems(obj.body) == []
    body: dict[str, Any] = obj.body
    body["notes"] = obj.notes
    return body


def test_kubernetes_secrets_become_secret_key_refs_and_no_value_is_in_the_job() -> None:
    body = _job(
        {
            "HF_TOKEN": "k8s:hf/token",
            "W": {"from": "k8s", "name": "wandb", "key": "api-key", "optional": True},
        },
        env={"HF_TOKEN": "plain-value-from-the-run"},
    )
    env = {e["name"]: e for e in body["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["HF_TOKEN"] == {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}},
    }
    assert env["W"]["valueFrom"]["secretKeyRef"] == {"name": "wandb", "key": "api-key", "optional": True}
    assert "plain-value-from-the-run" not in str(body["spec"])
    assert any("HF_TOKEN comes from Secret hf" in note for note in body["notes"])


def test_kubernetes_refuses_a_server_side_secret_source() -> None:
    with pytest.raises(InvalidInput) as caught:
        _job({"HF_TOKEN": "env:HF_TOKEN"})
    assert caught.value.field == "resource_args.kubernetes.secrets.HF_TOKEN"
    assert "takes: kubernetes" in caught.value.detail


@pytest.mark.parametrize(
    ("key", "value"), [("secrets", {"X": "env:AWS_SECRET_ACCESS_KEY"}), ("inherit_env", ["AWS_*"])]
)
def test_a_run_cannot_reach_into_the_server_through_its_overrides(key: str, value: Any) -> None:
    queue = Queue(name="q", resource="local-process", config={}, allow_overrides=True, created_at=NOW)
    spec = RunSpec(entry_point=["env"], resource_args={"local-process": {key: value}})
    with pytest.raises(InvalidInput) as caught:
        resolve_resource_args(queue, spec)
    assert caught.value.field == f"resource_args.local-process.{key}"
    assert "queue's config only" in caught.value.detail


def test_sagemaker_validates_aws_secrets_then_refuses_them_with_the_reason() -> None:
    from launchq.adapters.targets.sagemaker_config import build_request

    config = {
        "RoleArn": "arn:aws:iam::123456789012:role/training",
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
    }
    spec = RunSpec(docker_image="123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1")
    with pytest.raises(InvalidInput) as refused:
        build_request(
            spec,
            {**config, "secrets": {"KEY": "secretsmanager:prod/key"}},
            run_id="r1",
            queue="q",
            entity="e",
        )
    assert refused.value.field == "resource_args.sagemaker.secrets.KEY"
    assert "store the value in the clear" in refused.value.detail
    with pytest.raises(InvalidInput) as malformed:
        build_request(spec, {**config, "secrets": {"KEY": "ssm:"}}, run_id="r1", queue="q", entity="e")
    assert malformed.value.field == "resource_args.sagemaker.secrets.KEY"
