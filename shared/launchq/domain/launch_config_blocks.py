"""The three blocks of ``launch-config.yaml`` -- ``builder``, ``registry``, ``environment`` --
each a union discriminated by its ``type``, with W&B's hyphenated keys as aliases.

Each class is named for what it is, the configuration of one adapter: ``EcrRegistryConfig``
is what the ``EcrRegistry`` adapter is built from (``registry_from_config``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

_BUILD_CONTEXT_STORE = re.compile(
    r"^(s3://[^/]+(/.*)?|gs://[^/]+(/.*)?|https://[^./]+\.blob\.core\.windows\.net/[^/]+(/.*)?)$"
)
KEY_CONFIG = ConfigDict(extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- builder

Platform = Literal["linux/amd64", "linux/arm64"]


class _BuilderConfigBase(BaseModel):
    model_config = KEY_CONFIG

    destination: str | None = Field(
        default=None, description="image repository URI for built images (replaces `registry`)"
    )
    platform: Platform | None = Field(default=None, description="target platform of built images")


class DockerBuilderConfig(_BuilderConfigBase):
    """Build with the local Docker engine."""

    type: Literal["docker"]


class NoopBuilderConfig(_BuilderConfigBase):
    """Never build: only prebuilt images may run."""

    type: Literal["noop"]


class BuildahBuilderConfig(_BuilderConfigBase):
    """Build with buildah (daemonless, rootless)."""

    type: Literal["buildah"]


class _ContextBuilderConfigBase(_BuilderConfigBase):
    # Required, as in W&B: the build runs elsewhere and fetches its context from here.
    build_context_store: str = Field(
        alias="build-context-store",
        description="s3://, gs:// or https://<account>.blob.core.windows.net/<container> URI",
    )

    @field_validator("build_context_store")
    @classmethod
    def _context_store_uri(cls, value: str) -> str:
        if not _BUILD_CONTEXT_STORE.match(value):
            raise ValueError(
                "must be an s3://bucket/..., gs://bucket/... or "
                "https://<account>.blob.core.windows.net/<container>/... URI"
            )
        return value


class CodeBuildBuilderConfig(_ContextBuilderConfigBase):
    """Build in AWS CodeBuild; the build context is uploaded to ``build-context-store`` (S3)."""

    type: Literal["codebuild"]
    build_job_name: str | None = Field(
        default=None, alias="build-job-name", description="CodeBuild project name"
    )


class KanikoBuilderConfig(_ContextBuilderConfigBase):
    """Build inside Kubernetes with a Kaniko job (no Docker daemon needed)."""

    type: Literal["kaniko"]
    build_job_name: str = Field(
        default="launchq-image-build", alias="build-job-name", description="build job name prefix"
    )
    secret_name: str | None = Field(
        default=None, alias="secret-name", description="Kubernetes secret with cloud credentials"
    )
    secret_key: str | None = Field(
        default=None, alias="secret-key", description="file name (key) inside that secret"
    )
    kaniko_image: str = Field(default="gcr.io/kaniko-project/executor:v1.23.2", alias="kaniko-image")
    kaniko_config: dict[str, Any] = Field(
        default_factory=dict, alias="kaniko-config", description="merged into the Kaniko job spec"
    )

    @model_validator(mode="after")
    def _secret_pair(self) -> KanikoBuilderConfig:
        if (self.secret_name is None) != (self.secret_key is None):
            raise ValueError("secret-name and secret-key must be given together")
        return self


BuilderConfig = Annotated[
    DockerBuilderConfig
    | KanikoBuilderConfig
    | NoopBuilderConfig
    | BuildahBuilderConfig
    | CodeBuildBuilderConfig,
    Field(discriminator="type"),
]


# --------------------------------------------------------------------------- registry


class EcrRegistryConfig(BaseModel):
    """Amazon ECR: a full ``uri`` or just the ``repository`` name."""

    model_config = KEY_CONFIG
    type: Literal["ecr"]
    uri: str | None = None
    repository: str | None = None
    account_id: str | None = None
    region: str | None = None

    @model_validator(mode="after")
    def _where(self) -> EcrRegistryConfig:
        if self.uri is None and self.repository is None:
            raise ValueError("give `uri` or `repository`")
        return self


class GcrRegistryConfig(BaseModel):
    """Google Artifact Registry: a full ``uri`` or ``repository`` plus ``image-name``."""

    model_config = KEY_CONFIG
    type: Literal["gcr"]
    uri: str | None = None
    repository: str | None = None
    image_name: str | None = Field(default=None, alias="image-name")
    project: str | None = None
    region: str | None = None

    @model_validator(mode="after")
    def _where(self) -> GcrRegistryConfig:
        if self.uri is None and (self.repository is None or self.image_name is None):
            raise ValueError("give `uri`, or both `repository` and `image-name`")
        return self


class AcrRegistryConfig(BaseModel):
    """Azure Container Registry: ``https://<name>.azurecr.io/<repository>``."""

    model_config = KEY_CONFIG
    type: Literal["acr"]
    uri: str


class OciRegistryConfig(BaseModel):
    """Any other OCI registry (Docker Hub, GHCR, Harbor...) reached with docker credentials."""

    model_config = KEY_CONFIG
    type: Literal["oci"]
    uri: str


class LocalRegistryConfig(BaseModel):
    """No registry: images stay in the local engine (W&B's default)."""

    model_config = KEY_CONFIG
    type: Literal["local"]


RegistryConfig = Annotated[
    EcrRegistryConfig | GcrRegistryConfig | AcrRegistryConfig | OciRegistryConfig | LocalRegistryConfig,
    Field(discriminator="type"),
]


# --------------------------------------------------------------------------- environment


class AwsEnvironmentConfig(BaseModel):
    model_config = KEY_CONFIG
    type: Literal["aws"]
    region: str


class GcpEnvironmentConfig(BaseModel):
    model_config = KEY_CONFIG
    type: Literal["gcp"]
    region: str
    project: str | None = None


class AzureEnvironmentConfig(BaseModel):
    model_config = KEY_CONFIG
    type: Literal["azure"]
    region: str | None = None


class LocalEnvironmentConfig(BaseModel):
    model_config = KEY_CONFIG
    type: Literal["local"]


EnvironmentConfig = Annotated[
    AwsEnvironmentConfig | GcpEnvironmentConfig | AzureEnvironmentConfig | LocalEnvironmentConfig,
    Field(discriminator="type"),
]
