"""The Azure composition root: Azure Tables store, Service Bus doorbell, Kubernetes on AKS, Kaniko into ACR.

The three functions of ``functions/azure/function_app.py`` share it: each builds its services
once per instance, at the first invocation, from ``AzureSettings`` (the app settings
``infra/azure/main.bicep`` sets).

- **Store**: Azure Tables (``AzureTablesStore``) in the deployment's Storage account -- the
  Table service, not Cosmos DB: it is what Azurite serves, so the store's contract and race
  suites run against it, and it costs cents at launchq's load. Reached with the Function
  App's managed identity (DefaultAzureCredential, "Storage Table Data Contributor") on
  ``LAUNCHQ_TABLE_ENDPOINT``, or with a connection string.
- **Doorbell**: Service Bus, on the namespace with the managed identity ("Azure Service Bus
  Data Sender"), or with a connection string; the client is built at the first ring.
- **Target**: Kubernetes on AKS is the Azure compute target shipped: a queue names its cluster
  in ``launchq: {aks: {subscription, resource_group, cluster}}`` (API server and CA from ARM,
  an Entra token for the managed identity: ``adapters/targets/kubernetes_aks.py``). A
  Function App has no kubeconfig and runs in no pod, so any other cluster is refused at
  enqueue. Azure Machine Learning jobs are not written yet.
- **Builds**: Kaniko on an AKS cluster (``LAUNCHQ_BUILD_CLUSTER``, its ARM id), contexts in
  Azure Blob storage, images into ACR (``AzureContainerRegistry``: an Entra token exchanged
  for an ACR refresh token). Kaniko reads blobs with the account key only, so the Function
  App needs ``AZURE_STORAGE_ACCESS_KEY`` (a Key Vault reference) for builds; without the
  three build settings the noop builder refuses runs that need an image.
- **Schedules**: the timer trigger ticks the reconciler every minute; it fires cron
  schedules too (``ReconcilerOnlyTrigger``). **Code uploads**: none (``launchq code push``
  is refused on Azure).

Only Azure SDK code is imported here, and only when a service is built: no boto3, botocore or
google module in the Function App (``tests/unit/test_cloud_imports.py``).
"""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launchq.adapters.builders.noop import NoopBuilder
from launchq.adapters.doorbells.servicebus import ServiceBusDoorbell, servicebus_client
from launchq.adapters.registries.acr import AzureContainerRegistry
from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
from launchq.adapters.targets.kubernetes import KubernetesTarget
from launchq.adapters.targets.kubernetes_spec import check_object
from launchq.azure.errors import azure_call, import_sdk
from launchq.azure.settings import AKS_CLUSTER_ID, AzureSettings
from launchq.bootstrap import Services, build_services
from launchq.domain.models import JsonObject, RunSpec
from launchq.errors import InvalidInput
from launchq.ports import Builder, Registry, RunStore
from launchq.service.context import Context
from launchq.service.targets import TargetCatalog

if TYPE_CHECKING:
    from azure.servicebus import ServiceBusClient

__all__ = [
    "AksKubernetesTarget",
    "azure_context",
    "build_azure",
    "services_from_env",
    "settings_from_env",
    "tables_store",
]

# tempfile's directory is the Function App's writable temporary directory, a local one in tests.
BUILD_DIR = Path(tempfile.gettempdir()) / "launchq-builds"


class AksKubernetesTarget(KubernetesTarget):
    """The kubernetes target as an Azure Function can use it: on an AKS cluster the queue names."""

    def validate(self, spec: RunSpec, resolved: JsonObject) -> None:
        if check_object(spec, resolved).options.aks is None:
            raise InvalidInput(
                "name the cluster: aks: {subscription, resource_group, cluster}; an Azure Function "
                "has no kubeconfig and runs in no pod, so context, in_cluster, eks, gke or none "
                "cannot be reached",
                field="resource_args.kubernetes.launchq",
            )
        super().validate(spec, resolved)


def tables_store(settings: AzureSettings) -> RunStore:
    """Azure Tables on the settings' account (a connection string wins over the endpoint).

    Raises BackendUnavailable without the SDK or credentials, InvalidInput for a malformed
    connection string (never echoed)."""
    from launchq.adapters.stores.azure_tables import AzureTablesStore

    if settings.tables_connection is not None:
        return AzureTablesStore.from_connection_string(
            settings.tables_connection.get_secret_value(), settings.table_prefix
        )
    tables = import_sdk("azure.data.tables", "azure-data-tables")
    identity = import_sdk("azure.identity", "azure-identity")
    with azure_call("building the Azure Tables client", field="store"):
        service = tables.TableServiceClient(
            endpoint=str(settings.table_endpoint), credential=identity.DefaultAzureCredential()
        )
    return AzureTablesStore(service, settings.table_prefix)


def _servicebus(settings: AzureSettings) -> ServiceBusClient:
    connection = settings.servicebus_connection
    return servicebus_client(
        namespace=settings.servicebus_namespace,
        connection_string=connection.get_secret_value() if connection is not None else None,
    )


def image_builds(settings: AzureSettings) -> tuple[Builder, Registry | None]:
    """Kaniko on the AKS build cluster into ACR when the settings name all three (repository,
    cluster, context store); else the noop builder. Raises InvalidInput naming the setting."""
    repository, cluster, contexts = (
        settings.image_repository,
        settings.build_cluster,
        settings.build_context_store,
    )
    if not (repository and cluster and contexts):
        return NoopBuilder(), None
    from launchq.adapters.builders.kaniko import KanikoBuilder
    from launchq.adapters.targets.kubernetes_options import AksCluster, KubeOptions

    found = AKS_CLUSTER_ID.match(cluster)
    if found is None:  # AzureSettings refuses it first; a hand-built settings object may not
        raise InvalidInput("not an AKS cluster's resource id", field="LAUNCHQ_BUILD_CLUSTER")
    aks = AksCluster(
        subscription=found["subscription"], resource_group=found["resource_group"], cluster=found["cluster"]
    )
    registry = AzureContainerRegistry(repository)
    builder = KanikoBuilder(
        registry, contexts, cluster=KubeOptions(aks=aks), namespace=settings.build_namespace
    )
    return builder, registry


def azure_context(
    settings: AzureSettings, *, store: RunStore | None = None, servicebus: ServiceBusClient | None = None
) -> Context:
    """The Context of an Azure deployment. ``store`` and ``servicebus`` let a test hand in its
    own (Azurite's tables, a Service Bus stand-in); by default they come from the settings."""
    builder, registry = image_builds(settings)
    connect: Any = None if servicebus is not None else (lambda: _servicebus(settings))
    return Context(
        store=store if store is not None else tables_store(settings),
        doorbell=ServiceBusDoorbell(settings.doorbell_queue, servicebus, connect=connect),
        targets=TargetCatalog({"kubernetes": AksKubernetesTarget()}),
        builder=builder,
        settings=settings.service,
        trigger=ReconcilerOnlyTrigger(),  # the timer trigger ticks the reconciler; it fires cron schedules
        registry=registry,
        code_store=None,  # no blob code store yet: `launchq code push` is refused on Azure
        build_dir=BUILD_DIR,
        control_plane=True,  # agents queues are left to agents over HTTP
    )


def build_azure(settings: AzureSettings) -> Services:
    return build_services(azure_context(settings))


@cache
def settings_from_env() -> AzureSettings:
    """The Function App's settings, read once per instance."""
    return AzureSettings()  # fields come from the app settings


@cache
def services_from_env() -> Services:
    """The process-wide services of a Function App instance (built at the first invocation)."""
    return build_azure(settings_from_env())
