"""Settings of the Azure deployment, read once per cold start from the Function App's app settings.

``infra/azure/main.bicep`` sets every one; a missing or malformed one fails the cold start with
a message naming it, not an error in the first request. The service's own settings (lease,
start and build timeouts, entity) are ServiceSettings' fields under their flat names
(``LAUNCHQ_LEASE_SECONDS``, ...), as on AWS and Google Cloud.

Two settings are shared with the Functions runtime, so one app setting serves both:

- ``LAUNCHQ_SERVICEBUS__fullyQualifiedNamespace`` is the Service Bus trigger's identity-based
  connection (``connection="LAUNCHQ_SERVICEBUS"``) and the doorbell's namespace; a connection
  string in ``LAUNCHQ_SERVICEBUS`` replaces both (local development, or no managed identity);
- ``LAUNCHQ_DOORBELL_QUEUE`` is the trigger's ``%LAUNCHQ_DOORBELL_QUEUE%`` and the queue rung.

The store is Azure Tables on the endpoint ``LAUNCHQ_TABLE_ENDPOINT`` with the managed identity
(DefaultAzureCredential), or on the account ``LAUNCHQ_TABLES_CONNECTION`` names (Azurite, or
Cosmos DB's Table API). Images from code are built by Kaniko on an AKS cluster and pushed to
ACR when ``LAUNCHQ_IMAGE_REPOSITORY``, ``LAUNCHQ_BUILD_CLUSTER`` and
``LAUNCHQ_BUILD_CONTEXT_STORE`` are all set; with none of them, the noop builder refuses such
runs at enqueue.
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from launchq.adapters.doorbells.servicebus import check_namespace, check_queue_name
from launchq.service.context import Seconds, ServiceSettings
from launchq.validation import all_or_none

__all__ = ["AKS_CLUSTER_ID", "AzureSettings"]

AKS_CLUSTER_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[0-9a-fA-F-]{36})/resourceGroups/(?P<resource_group>[-\w.()]{1,90})"
    r"/providers/Microsoft\.ContainerService/managedClusters/(?P<cluster>[a-zA-Z0-9][-_a-zA-Z0-9]{0,62})$"
)
"""An AKS cluster's ARM resource id (what ``az aks show --query id`` prints)."""


class AzureSettings(BaseSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LAUNCHQ_", extra="ignore")

    doorbell_queue: str = Field(default="launchq-doorbell", description="the Service Bus doorbell queue")
    servicebus_namespace: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "LAUNCHQ_SERVICEBUS__fullyQualifiedNamespace", "LAUNCHQ_SERVICEBUS_NAMESPACE"
        ),
        description="<namespace>.servicebus.windows.net, reached with the managed identity",
    )
    servicebus_connection: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("LAUNCHQ_SERVICEBUS"),
        description="a Service Bus connection string, in place of the namespace and identity",
    )
    table_endpoint: str | None = Field(
        default=None,
        pattern=r"^https://[a-z0-9]{3,24}\.table\.(core\.windows\.net|cosmos\.azure\.com)/?$",
        description="https://<account>.table.core.windows.net, reached with the managed identity",
    )
    tables_connection: SecretStr | None = Field(
        default=None, description="an Azure Tables connection string, in place of the endpoint"
    )
    table_prefix: str = Field(
        default="launchq", pattern=r"^[A-Za-z][A-Za-z0-9]{0,49}$", description="tables are <prefix><kind>"
    )
    auth: Literal["keys", "none"] = Field(
        default="keys",
        description="keys: every request needs a launchq API key (the function is anonymous to "
        "Azure); none only behind something that authenticates (Easy Auth, API Management)",
    )
    image_repository: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]{5,50}\.azurecr\.io/[a-z0-9._/-]+$",
        description="<acr>.azurecr.io/<repo>",
    )
    build_cluster: str | None = Field(
        default=None, description="the AKS cluster Kaniko builds on (its ARM id)"
    )
    build_context_store: str | None = Field(
        default=None, min_length=6, description="https://<account>.blob.core.windows.net/<container>/<prefix>"
    )
    build_namespace: str = Field(default="launchq", description="the namespace of Kaniko build Jobs")
    # The dispatcher function ends after host.json's functionTimeout (10 minutes), so a claim
    # older than that is orphaned: ten minutes requeues it sooner than local mode's default.
    lease_seconds: Seconds = Field(default=600, description="a claim not launched by then is requeued")
    # Pods on AKS are "starting" while nodes scale up and images are pulled, which for GPU
    # node pools often takes longer than local mode's ten minutes.
    start_timeout_seconds: Seconds = Field(default=1800, description="starting longer -> dead_letter")

    @field_validator("doorbell_queue")
    @classmethod
    def _queue(cls, value: str) -> str:
        return check_queue_name(value)

    @field_validator("servicebus_namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        return None if value is None else check_namespace(value)

    @field_validator("build_cluster")
    @classmethod
    def _cluster(cls, value: str | None) -> str | None:
        if value is not None and not AKS_CLUSTER_ID.match(value):
            raise ValueError(
                "give the AKS cluster's resource id: /subscriptions/<id>/resourceGroups/<group>"
                "/providers/Microsoft.ContainerService/managedClusters/<name>"
            )
        return value

    @model_validator(mode="after")
    def _one_of_each(self) -> Self:
        if not (self.servicebus_namespace or self.servicebus_connection):
            raise ValueError(
                "set LAUNCHQ_SERVICEBUS__fullyQualifiedNamespace (managed identity) or "
                "LAUNCHQ_SERVICEBUS (a connection string)"
            )
        if not (self.table_endpoint or self.tables_connection):
            raise ValueError(
                "set LAUNCHQ_TABLE_ENDPOINT (managed identity) or LAUNCHQ_TABLES_CONNECTION "
                "(a connection string)"
            )
        return self

    @model_validator(mode="after")
    def _builds_all_or_nothing(self) -> Self:
        given: dict[str, object] = {
            "LAUNCHQ_IMAGE_REPOSITORY": self.image_repository,
            "LAUNCHQ_BUILD_CLUSTER": self.build_cluster,
            "LAUNCHQ_BUILD_CONTEXT_STORE": self.build_context_store,
        }
        all_or_none(given, "image builds")
        return self
