"""Azure Container Registry (W&B's ``registry.type: acr``): an OCI registry whose credentials
are an ACR refresh token obtained from an Azure AD access token.

Credentials are fetched lazily: an AAD token from ``azure.identity.DefaultAzureCredential``
(scope ``https://management.azure.com/.default``) is exchanged at
``https://<registry>/oauth2/exchange`` for an ACR refresh token; the push credentials are
user name ``00000000-0000-0000-0000-000000000000`` and that refresh token (what
``az acr login`` does). ``azure-identity`` is not a dependency of launchq: it is imported on
first use, and missing it is BackendUnavailable naming the package to install.

Test gap: no local ACR server exists. The tests inject ``aad_token_provider`` and point
``endpoint`` at a small HTTP server on 127.0.0.1 that implements the exchange, a Bearer
challenge and the token endpoint; ``azure.identity`` itself is not exercised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import httpx

from launchq.adapters.registries.oci import OciRegistry, import_optional
from launchq.adapters.registries.uri import RegistryKind
from launchq.errors import BackendUnavailable
from launchq.ports import RegistryCredentials

__all__ = ["USERNAME", "AzureAccessToken", "AzureContainerRegistry"]

USERNAME = "00000000-0000-0000-0000-000000000000"
ARM_SCOPE = "https://management.azure.com/.default"


class AzureAccessToken:
    """A callable giving an AAD access token from ``DefaultAzureCredential``."""

    def __init__(self, scope: str = ARM_SCOPE) -> None:
        self._scope = scope
        self._credential: Any = None

    def __call__(self) -> str:
        """Raises BackendUnavailable without azure-identity or without usable credentials."""
        identity = import_optional("azure.identity", "azure-identity")
        errors = import_optional("azure.core.exceptions", "azure-identity")
        try:
            if self._credential is None:
                self._credential = identity.DefaultAzureCredential()
            return str(self._credential.get_token(self._scope).token)
        except errors.AzureError as exc:
            raise BackendUnavailable(f"Azure credentials: {type(exc).__name__}: {exc}") from exc


class AzureContainerRegistry(OciRegistry):
    """``[https://]<name>.azurecr.io/<repository>``."""

    type: ClassVar[str] = "acr"
    expect: ClassVar[RegistryKind | None] = "acr"

    def __init__(
        self,
        uri: str,
        *,
        aad_token_provider: Callable[[], str] | None = None,
        tenant_id: str | None = None,
        client: httpx.Client | None = None,
        endpoint: str | None = None,
        insecure: bool = False,
    ) -> None:
        """Raises InvalidInput for a URI not of the ACR form."""
        super().__init__(uri, insecure=insecure, client=client, endpoint=endpoint)
        self._aad_token_provider = aad_token_provider or AzureAccessToken()
        self._tenant_id = tenant_id

    @property
    def name(self) -> str | None:
        return self.where.name

    def credentials(self) -> RegistryCredentials:
        """The zero-GUID user and an ACR refresh token. Raises BackendUnavailable."""
        return RegistryCredentials(username=USERNAME, password=self._refresh_token(), server=self.host)

    def _refresh_token(self) -> str:
        form = {
            "grant_type": "access_token",
            "service": self.host,
            "access_token": self._aad_token_provider(),
        }
        if self._tenant_id:
            form["tenant"] = self._tenant_id
        response = self._send("POST", f"{self.endpoint}/oauth2/exchange", headers={}, data=form)
        if response.status_code != 200:
            refused = " (AAD token refused)" if response.status_code in (401, 403) else ""
            raise BackendUnavailable(
                f"ACR {self.host} token exchange answered HTTP {response.status_code}{refused}"
            )
        try:
            answer = response.json()
        except ValueError as exc:
            raise BackendUnavailable(f"ACR {self.host} token exchange answered no JSON") from exc
        token = answer.get("refresh_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise BackendUnavailable(f"ACR {self.host} token exchange answered no refresh token")
        return token
