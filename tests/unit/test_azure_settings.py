"""The Azure Function App's settings and wiring: a bad app setting fails the cold start naming it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from launchq.adapters.builders.kaniko import KanikoBuilder
from launchq.adapters.builders.noop import NoopBuilder
from launchq.adapters.doorbells.servicebus import ServiceBusDoorbell
from launchq.adapters.registries.acr import AzureContainerRegistry
from launchq.adapters.stores.memory import MemoryRunStore
from launchq.azure.settings import AzureSettings
from launchq.azure.wiring import AksKubernetesTarget, azure_context, image_builds
from launchq.domain.models import RunSpec
from launchq.errors import InvalidInput

CLUSTER = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/ml"
    "/providers/Microsoft.ContainerService/managedClusters/train"
)
BASE = {
    "LAUNCHQ_SERVICEBUS__fullyQualifiedNamespace": "launchq-test.servicebus.windows.net",
    "LAUNCHQ_TABLE_ENDPOINT": "https://launchqstate.table.core.windows.net",
}
BUILDS = {
    "LAUNCHQ_IMAGE_REPOSITORY": "launchqacr.azurecr.io/train",
    "LAUNCHQ_BUILD_CLUSTER": CLUSTER,
    "LAUNCHQ_BUILD_CONTEXT_STORE": "https://launchqstate.blob.core.windows.net/build-contexts/ctx/",
}


def _settings(
    monkeypatch: pytest.MonkeyPatch, base: dict[str, str] | None = None, **env: str
) -> AzureSettings:
    for key in [*BASE, *BUILDS, "LAUNCHQ_SERVICEBUS", "LAUNCHQ_TABLES_CONNECTION", "LAUNCHQ_AUTH"]:
        monkeypatch.delenv(key, raising=False)
    for key, value in {**(BASE if base is None else base), **env}.items():
        monkeypatch.setenv(key, value)
    return AzureSettings()


def test_defaults_and_the_settings_shared_with_the_functions_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch)
    assert settings.servicebus_namespace == "launchq-test.servicebus.windows.net"
    assert (settings.doorbell_queue, settings.table_prefix, settings.auth) == (
        "launchq-doorbell",
        "launchq",
        "keys",
    )
    assert (settings.service.lease_seconds, settings.service.start_timeout_seconds) == (600, 1800)


def test_connection_strings_replace_the_identity_settings_and_stay_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn = "Endpoint=sb://launchq-test.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0"
    settings = _settings(
        monkeypatch, {}, LAUNCHQ_SERVICEBUS=conn, LAUNCHQ_TABLES_CONNECTION="UseDevelopmentStorage=true"
    )
    assert settings.servicebus_connection is not None
    assert settings.servicebus_connection.get_secret_value() == conn
    assert "c2VjcmV0" not in repr(settings)


@pytest.mark.parametrize(
    ("base", "env", "named"),
    [
        ({}, {"LAUNCHQ_TABLE_ENDPOINT": BASE["LAUNCHQ_TABLE_ENDPOINT"]}, "LAUNCHQ_SERVICEBUS"),
        ({"LAUNCHQ_SERVICEBUS__fullyQualifiedNamespace": "x.servicebus.windows.net"}, {}, "namespace"),
        (BASE, {"LAUNCHQ_DOORBELL_QUEUE": "-bad-"}, "queue name"),
        (BASE, {"LAUNCHQ_TABLE_ENDPOINT": "http://launchqstate.table.core.windows.net"}, "table_endpoint"),
        (BASE, {"LAUNCHQ_AUTH": "iam"}, "auth"),
        (BASE, {"LAUNCHQ_BUILD_CLUSTER": "ml/train"}, "resource id"),
        (BASE, {"LAUNCHQ_IMAGE_REPOSITORY": BUILDS["LAUNCHQ_IMAGE_REPOSITORY"]}, "LAUNCHQ_BUILD_CLUSTER"),
    ],
)
def test_a_bad_environment_is_refused_naming_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, base: dict[str, str], env: dict[str, str], named: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        _settings(monkeypatch, base, **env)
    assert named in str(refused.value)


def test_builds_are_kaniko_on_the_aks_cluster_into_acr_when_all_three_are_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    builder, registry = image_builds(_settings(monkeypatch, **BUILDS))
    assert isinstance(builder, KanikoBuilder)
    assert isinstance(registry, AzureContainerRegistry)
    assert builder.cluster is not None
    assert builder.cluster.aks is not None
    assert (builder.cluster.aks.resource_group, builder.cluster.aks.cluster) == ("ml", "train")
    builder, registry = image_builds(_settings(monkeypatch))  # none of the three: no builds
    assert isinstance(builder, NoopBuilder)
    assert registry is None


def test_the_context_rings_service_bus_and_offers_kubernetes_on_aks_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx = azure_context(_settings(monkeypatch), store=MemoryRunStore())
    assert isinstance(ctx.doorbell, ServiceBusDoorbell)
    assert ctx.doorbell.queue_name == "launchq-doorbell"
    assert ctx.doorbell._client is None  # built at the first ring, not at a cold start
    target = ctx.targets.get("kubernetes")
    assert isinstance(target, AksKubernetesTarget)
    job = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}}}
    with pytest.raises(InvalidInput) as refused:
        target.validate(RunSpec(docker_image="busybox"), {**job, "launchq": {"context": "dev"}})
    assert refused.value.field == "resource_args.kubernetes.launchq"
    aks = {"subscription": "00000000-0000-0000-0000-000000000001", "resource_group": "ml", "cluster": "train"}
    target.validate(RunSpec(docker_image="busybox"), {**job, "launchq": {"aks": aks}})
