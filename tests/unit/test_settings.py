"""The service's settings are defined once and read the same way in local mode and on AWS.

ServiceSettings declares the lease, the start and build timeouts and the entity; LocalSettings
and AwsSettings inherit them, so each is read from one flat variable in either mode
(``LAUNCHQ_LEASE_SECONDS``, ...) and the composition roots hand exactly those values to the
service's Context. The AWS stack keeps its own lease and start-timeout defaults (a 60 s
dispatcher function; SageMaker's slow instance provisioning).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from launchq.aws.settings import AwsSettings
from launchq.aws.wiring import build_aws
from launchq.domain.launch_config import LaunchConfig
from launchq.errors import InvalidInput
from launchq.local.settings import LocalSettings, load_local_settings
from launchq.local.wiring import build_local
from launchq.service.context import ServiceSettings

SERVICE_ENV = {
    "LAUNCHQ_LEASE_SECONDS": "41",
    "LAUNCHQ_START_TIMEOUT_SECONDS": "42",
    "LAUNCHQ_BUILD_TIMEOUT_SECONDS": "43",
    "LAUNCHQ_ENTITY": "my-team",
}
FROM_ENV = ServiceSettings(
    lease_seconds=41, start_timeout_seconds=42, build_timeout_seconds=43, entity="my-team"
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LAUNCHQ_* variable of the machine running the tests leaks in; the AWS stack's
    required ones are set (its clients are built, never called)."""
    for name in SERVICE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAUNCHQ_TABLE_NAME", "launchq-test")
    monkeypatch.setenv(
        "LAUNCHQ_DOORBELL_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/doorbell"
    )
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def set_service_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SERVICE_ENV.items():
        monkeypatch.setenv(name, value)


def test_local_settings_read_every_service_setting_from_its_flat_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_service_env(monkeypatch)

    assert LocalSettings().service == FROM_ENV


def test_aws_settings_read_every_service_setting_from_its_flat_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_service_env(monkeypatch)

    assert AwsSettings().service == FROM_ENV


def test_local_defaults_are_the_service_defaults() -> None:
    assert LocalSettings().service == ServiceSettings()
    assert ServiceSettings() == ServiceSettings(
        lease_seconds=900, start_timeout_seconds=600, build_timeout_seconds=3600, entity="local"
    )


def test_aws_overrides_only_the_lease_and_the_start_timeout() -> None:
    assert AwsSettings().service == ServiceSettings(
        lease_seconds=600, start_timeout_seconds=1800, build_timeout_seconds=3600, entity="local"
    )


@pytest.mark.parametrize("settings", [LocalSettings, AwsSettings])
@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("LAUNCHQ_LEASE_SECONDS", "0", "lease_seconds"),
        ("LAUNCHQ_START_TIMEOUT_SECONDS", "-1", "start_timeout_seconds"),
        ("LAUNCHQ_BUILD_TIMEOUT_SECONDS", "0", "build_timeout_seconds"),
        ("LAUNCHQ_ENTITY", "not an entity!", "entity"),
    ],
)
def test_a_bad_value_is_refused_naming_the_setting_in_both_modes(
    monkeypatch: pytest.MonkeyPatch,
    settings: type[LocalSettings | AwsSettings],
    variable: str,
    value: str,
    field: str,
) -> None:
    """The constraint is part of the one definition, so the AWS overrides keep it too."""
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError) as refused:
        settings()

    assert [error["loc"] for error in refused.value.errors()] == [(field,)]


def test_local_wiring_hands_the_settings_to_the_context(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_service_env(monkeypatch)

    services = build_local(LocalSettings(data_dir=tmp_path))

    assert services.ctx.settings == FROM_ENV
    assert type(services.ctx.settings) is ServiceSettings  # the service's fields only


def test_local_wiring_prefers_the_launch_config_entity(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_service_env(monkeypatch)

    services = build_local(LocalSettings(data_dir=tmp_path), config=LaunchConfig(entity="wandb-team"))

    assert services.ctx.settings == FROM_ENV.model_copy(update={"entity": "wandb-team"})


def test_a_launch_config_entity_no_queue_could_carry_is_refused_naming_it(tmp_path: Path) -> None:
    """Before, the service's own check surfaced as a raw pydantic ValidationError."""
    data_dir = tmp_path / "data"

    with pytest.raises(InvalidInput) as refused:
        build_local(LocalSettings(data_dir=data_dir), config=LaunchConfig(entity="my team!"))

    assert refused.value.field == "entity"
    assert "should match pattern" in refused.value.detail
    assert not data_dir.exists()  # refused before anything was created


def test_aws_wiring_hands_the_settings_to_the_context(monkeypatch: pytest.MonkeyPatch) -> None:
    set_service_env(monkeypatch)

    services = build_aws(AwsSettings())

    assert services.ctx.settings == FROM_ENV
    assert type(services.ctx.settings) is ServiceSettings


def test_serve_and_agent_settings_name_the_variable_or_flag_that_is_wrong(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a bad timeout in the environment
    monkeypatch.setenv("LAUNCHQ_START_TIMEOUT_SECONDS", "0")
    # WHEN local mode loads its settings, THEN the variable is named (not the field)
    with pytest.raises(InvalidInput) as from_env:
        load_local_settings(data_dir=tmp_path)
    assert from_env.value.field == "LAUNCHQ_START_TIMEOUT_SECONDS"
    # AND a bad command-line flag is named as the flag
    monkeypatch.delenv("LAUNCHQ_START_TIMEOUT_SECONDS")
    with pytest.raises(InvalidInput) as from_flag:
        load_local_settings(port=70000, data_dir=tmp_path)
    assert from_flag.value.field == "port"
    assert load_local_settings(port=8081, data_dir=tmp_path).port == 8081
