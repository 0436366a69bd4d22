"""Google Artifact Registry (W&B's ``registry.type: gcr``): an OCI registry whose credentials
are an OAuth access token from Application Default Credentials.

Credentials are fetched lazily -- ``google.auth.default()`` then a refresh -- when a build
pushes or when the registry challenges a lookup: user name ``oauth2accesstoken``, password
the access token (what ``gcloud auth configure-docker`` does). ``google-auth`` is not a
dependency of launchq: it is imported on first use, and missing it is BackendUnavailable
naming the package to install.

Test gap: no local Artifact Registry server exists. The tests inject ``token_provider``
and point ``endpoint`` at a small HTTP server on 127.0.0.1 that issues a Bearer challenge
and checks the token; ``google.auth`` itself is not exercised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import httpx

from launchq.adapters.registries.oci import OciRegistry, import_optional
from launchq.adapters.registries.uri import RegistryKind, artifact_registry_uri, parse_registry_uri
from launchq.errors import BackendUnavailable, InvalidInput
from launchq.ports import RegistryCredentials

__all__ = ["USERNAME", "ArtifactRegistry", "GoogleAccessToken"]

USERNAME = "oauth2accesstoken"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


class GoogleAccessToken:
    """A callable giving a fresh access token from Application Default Credentials."""

    def __init__(self) -> None:
        self._credentials: Any = None

    def __call__(self) -> str:
        """Raises BackendUnavailable without google-auth or without usable credentials."""
        auth = import_optional("google.auth", "google-auth")
        transport = import_optional("google.auth.transport.requests", "google-auth requests")
        errors = import_optional("google.auth.exceptions", "google-auth")
        try:
            if self._credentials is None:
                self._credentials, _project = auth.default(scopes=[CLOUD_PLATFORM])
            if not self._credentials.valid:
                self._credentials.refresh(transport.Request())
        except errors.GoogleAuthError as exc:
            raise BackendUnavailable(f"Google credentials: {type(exc).__name__}: {exc}") from exc
        return str(self._credentials.token)


class ArtifactRegistry(OciRegistry):
    """``<region>-docker.pkg.dev/<project>/<repository>/<image>``, or its four parts."""

    type: ClassVar[str] = "gcr"
    expect: ClassVar[RegistryKind | None] = "gcr"

    def __init__(
        self,
        uri: str | None = None,
        *,
        repository: str | None = None,
        image_name: str | None = None,
        project: str | None = None,
        region: str | None = None,
        token_provider: Callable[[], str] | None = None,
        client: httpx.Client | None = None,
        endpoint: str | None = None,
        insecure: bool = False,
    ) -> None:
        """Raises InvalidInput when the URI or the parts are missing or disagree."""
        uri = _resolve_uri(uri, repository, image_name, project, region)
        super().__init__(uri, insecure=insecure, client=client, endpoint=endpoint)
        self._token_provider = token_provider or GoogleAccessToken()

    @property
    def region(self) -> str | None:
        return self.where.region

    @property
    def project(self) -> str | None:
        return self.where.project

    def credentials(self) -> RegistryCredentials:
        """An access token as password. Raises BackendUnavailable."""
        return RegistryCredentials(username=USERNAME, password=self._token_provider(), server=self.host)


def _resolve_uri(
    uri: str | None,
    repository: str | None,
    image_name: str | None,
    project: str | None,
    region: str | None,
) -> str:
    if uri is None:
        if not (repository and image_name and project and region):
            parts = {"repository": repository, "image-name": image_name, "project": project, "region": region}
            missing = ", ".join(key for key, value in parts.items() if not value)
            raise InvalidInput(
                f"give `uri`, or all of repository, image-name, project, region (missing: {missing})",
                field="registry",
            )
        return artifact_registry_uri(region, project, repository, image_name)
    where = parse_registry_uri(uri, expect="gcr")
    for key, given, parsed in (
        ("region", region, where.region),
        ("project", project, where.project),
        ("repository", repository, where.repository),
    ):
        if given is not None and given != parsed:
            raise InvalidInput(f"{key} {given!r} differs from the uri's {parsed!r}", field=f"registry.{key}")
    return uri
