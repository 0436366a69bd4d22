"""Settings of the Google Cloud deployment, read once per cold start from the functions' environment.

``infra/gcp`` sets every variable; a missing or malformed one fails the cold start with a
message naming it, not an error somewhere in the first request. The service's own settings
(lease, start and build timeouts, entity) are ServiceSettings' fields under their flat names
(``LAUNCHQ_LEASE_SECONDS``, ...), as in the AWS stack.

Images from code (runs with a source and no ``docker_image``) are built by Kaniko on a GKE
cluster and pushed to Artifact Registry when ``LAUNCHQ_IMAGE_REPOSITORY``,
``LAUNCHQ_BUILD_CLUSTER`` and ``LAUNCHQ_BUILD_CONTEXT_STORE`` are all set; with none of them,
the noop builder refuses such runs at enqueue. Uploaded code (``launchq code push``,
``POST /code``) is kept in the bucket ``LAUNCHQ_CODE_BUCKET`` names; without it uploads are
refused.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from launchq.adapters.doorbells.pubsub import check_topic
from launchq.service.context import Seconds, ServiceSettings
from launchq.validation import all_or_none

__all__ = ["GcpSettings", "TargetName"]

TargetName = Literal["vertex", "kubernetes"]
"""``vertex``: Vertex AI custom jobs; ``kubernetes``: Jobs on a GKE cluster the queue names."""

_CLUSTER = r"^[a-z]+-[a-z]+\d+(-[a-z])?/[a-z]([a-z0-9-]{0,38}[a-z0-9])?$"


class GcpSettings(BaseSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LAUNCHQ_", extra="ignore")

    project: str = Field(
        pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
        validation_alias=AliasChoices("LAUNCHQ_GCP_PROJECT", "GOOGLE_CLOUD_PROJECT"),
        description="the project of the Firestore database and Vertex AI jobs",
    )
    region: str = Field(
        default="us-central1",
        pattern=r"^[a-z]+-[a-z]+\d+$",
        description="where Vertex AI jobs run (the functions' region in infra/gcp)",
    )
    firestore_database: str = Field(default="(default)", min_length=1, description="the Firestore database")
    collection_prefix: str = Field(
        default="launchq", pattern=r"^[a-z][a-z0-9_]{0,30}$", description="collections are <prefix>_<kind>"
    )
    doorbell_topic: str = Field(description="the Pub/Sub topic: projects/<project>/topics/<topic>")
    targets: Annotated[list[TargetName], NoDecode] = Field(
        default_factory=lambda: list[TargetName](["vertex"]),
        min_length=1,
        description="the targets queues may name, comma-separated: vertex, kubernetes",
    )
    vertex_endpoint: str | None = Field(
        default=None,
        min_length=1,
        description="Vertex AI's API endpoint; default <region>-aiplatform.googleapis.com. An "
        "http:// loopback endpoint (a stand-in) is spoken to without credentials",
    )
    vertex_staging_bucket: str | None = Field(
        default=None, pattern=r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?$"
    )
    image_repository: str | None = Field(
        default=None,
        min_length=1,
        description="Artifact Registry repository <region>-docker.pkg.dev/<project>/<repository>",
    )
    build_cluster: str | None = Field(
        default=None, pattern=_CLUSTER, description="the GKE cluster Kaniko builds on: <location>/<cluster>"
    )
    build_context_store: str | None = Field(
        default=None, min_length=6, description="gs://<bucket>/<prefix> for Kaniko build contexts"
    )
    build_namespace: str = Field(default="launchq", description="the namespace of Kaniko build Jobs")
    code_bucket: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$",
        description="the GCS bucket `launchq code push` uploads go to (objects code/<sha256>.tar.gz); "
        "unset: POST /code is refused",
    )
    # Cloud Functions end an invocation after its timeout (infra/gcp: 60 s for the
    # dispatcher), so a claim older than that is orphaned: ten minutes requeues it sooner
    # than local mode's default does.
    lease_seconds: Seconds = Field(default=600, description="a claim not launched by then is requeued")
    # A Vertex AI job is "starting" while machines are provisioned and the image is pulled,
    # which for accelerators often takes longer than local mode's ten minutes.
    start_timeout_seconds: Seconds = Field(default=1800, description="starting longer -> dead_letter")

    @field_validator("targets", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("doorbell_topic")
    @classmethod
    def _topic_path(cls, value: str) -> str:
        return check_topic(value)

    @field_validator("vertex_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("http://") and not plain_http_allowed(value):
            raise ValueError("plain http:// is only for a loopback stand-in (127.0.0.1, ::1, localhost)")
        return value

    @model_validator(mode="after")
    def _builds_all_or_nothing(self) -> Self:
        given: dict[str, object] = {
            "LAUNCHQ_IMAGE_REPOSITORY": self.image_repository,
            "LAUNCHQ_BUILD_CLUSTER": self.build_cluster,
            "LAUNCHQ_BUILD_CONTEXT_STORE": self.build_context_store,
        }
        all_or_none(given, "image builds")
        return self

    def vertex_api_endpoint(self) -> str:
        return self.vertex_endpoint or f"{self.region}-aiplatform.googleapis.com"


def plain_http_allowed(endpoint: str) -> bool:
    """Whether ``endpoint`` is an ``http://`` URL on this machine (a stand-in, as Google's
    emulators are): only there may a Google client speak without TLS and credentials."""
    parts = urlsplit(endpoint)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False
