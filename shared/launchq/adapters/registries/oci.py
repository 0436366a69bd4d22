"""Any OCI distribution registry, looked up over its HTTP API (``/v2/``).

``exists(tag)`` is ``HEAD /v2/<path>/manifests/<tag>`` accepting OCI and Docker v2
manifests and indexes: 200 is True, 404 is False. A 401 carries a ``WWW-Authenticate``
challenge: ``Bearer realm=...,service=...,scope=...`` (Docker Hub, GHCR, ECR, Artifact
Registry, ACR, Harbor) fetches a token from the realm -- with HTTP basic auth when the
registry has credentials -- and retries once; ``Basic`` (an htpasswd registry) retries
once with the credentials. Credentials are asked for only when a challenge needs them,
so subclasses (Artifact Registry, ACR) can fetch short-lived ones lazily by overriding
``credentials()``. Anything else is BackendUnavailable; no message carries a credential.

``insecure`` means plain HTTP (a registry on 127.0.0.1); ``endpoint`` overrides the
base URL of the API (tests point a cloud registry's URI at a local server with it).
"""

from __future__ import annotations

import base64
import importlib
import re
from types import ModuleType
from typing import ClassVar

import httpx

from launchq.adapters.registries.uri import RegistryKind, RegistryUri, parse_registry_uri, tagged
from launchq.errors import BackendUnavailable
from launchq.ports import Registry, RegistryCredentials

__all__ = ["MANIFEST_MEDIA_TYPES", "OciRegistry", "import_optional", "parse_challenge"]

MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_PARAM = re.compile(r'([A-Za-z_]+)=(?:"([^"]*)"|([^,\s]*))')
# Docker Hub's image names use docker.io; its API lives elsewhere.
_API_HOSTS = {"docker.io": "registry-1.docker.io", "index.docker.io": "registry-1.docker.io"}


def import_optional(module: str, package: str) -> ModuleType:
    """Import a cloud SDK module on first use; a missing SDK is BackendUnavailable naming its package."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailable(f"{module} is not installed: pip install {package}") from exc


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """The scheme (lower case) and parameters of a ``WWW-Authenticate`` header."""
    scheme, _, rest = header.strip().partition(" ")
    params = {key.lower(): quoted or bare for key, quoted, bare in _PARAM.findall(rest)}
    return scheme.lower(), params


def _basic(credentials: RegistryCredentials) -> str:
    pair = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


class OciRegistry(Registry):
    """An OCI registry at ``uri`` (``host[:port]/path``); the client is built on first use."""

    type: ClassVar[str] = "oci"
    expect: ClassVar[RegistryKind | None] = None  # subclasses require their own URI form

    def __init__(
        self,
        uri: str,
        *,
        insecure: bool = False,
        credentials: RegistryCredentials | None = None,
        client: httpx.Client | None = None,
        endpoint: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.where: RegistryUri = parse_registry_uri(uri, expect=self.expect)
        self.insecure = insecure
        self._credentials = credentials
        self._client = client
        self._timeout = timeout
        scheme = "http" if insecure else "https"
        base = endpoint or f"{scheme}://{_API_HOSTS.get(self.where.host, self.where.host)}"
        self.endpoint = base.rstrip("/")

    @property
    def uri(self) -> str:
        return self.where.uri

    @property
    def host(self) -> str:
        return self.where.host

    @property
    def path(self) -> str:
        return self.where.path

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self._timeout)
        return self._client

    def close(self) -> None:
        """Close the HTTP client (an injected one too)."""
        if self._client is not None:
            self._client.close()

    # -- Registry -----------------------------------------------------------------------
    def image_uri(self, tag: str) -> str:
        """``<uri>:<tag>``. Raises InvalidInput for a malformed tag."""
        return tagged(self.uri, tag)

    def credentials(self) -> RegistryCredentials | None:
        return self._credentials

    def exists(self, tag: str) -> bool:
        """Whether ``tag`` has a manifest. Raises BackendUnavailable (unreachable, refused)."""
        self.image_uri(tag)  # validates the tag before it goes into a URL
        url = f"{self.endpoint}/v2/{self.path}/manifests/{tag}"
        headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
        response = self._send("HEAD", url, headers=headers)
        if response.status_code == 401:
            challenge = response.headers.get("WWW-Authenticate", "")
            headers["Authorization"] = self._authorization(challenge)
            response = self._send("HEAD", url, headers=headers)
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        refused = " (credentials refused)" if response.status_code in (401, 403) else ""
        raise BackendUnavailable(
            f"registry {self.host} answered HTTP {response.status_code} for {self.path}:{tag}{refused}"
        )

    # -- authentication -----------------------------------------------------------------
    def _authorization(self, challenge: str) -> str:
        """The ``Authorization`` header answering a 401's challenge."""
        scheme, params = parse_challenge(challenge)
        if scheme == "bearer":
            return "Bearer " + self._token(params)
        if scheme == "basic":
            credentials = self.credentials()
            if credentials is None:
                raise BackendUnavailable(f"registry {self.host} needs credentials and none are configured")
            return _basic(credentials)
        raise BackendUnavailable(
            f"registry {self.host} asked for unsupported authentication {scheme or 'none'!r}"
        )

    def _token(self, params: dict[str, str]) -> str:
        """A registry token from the challenge's realm (the distribution token protocol)."""
        realm = params.get("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise BackendUnavailable(f"registry {self.host} sent a Bearer challenge without a realm URL")
        if realm.startswith("http://") and not self.endpoint.startswith("http://"):
            raise BackendUnavailable(f"registry {self.host} sent a plain-HTTP token realm; refused")
        query = {"scope": params.get("scope") or f"repository:{self.path}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        credentials = self.credentials()
        headers = {"Authorization": _basic(credentials)} if credentials is not None else {}
        response = self._send("GET", realm, headers=headers, params=query)
        if response.status_code != 200:
            refused = " (credentials refused)" if response.status_code in (401, 403) else ""
            raise BackendUnavailable(
                f"token service of {self.host} answered HTTP {response.status_code}{refused}"
            )
        try:
            answer = response.json()
        except ValueError as exc:
            raise BackendUnavailable(f"token service of {self.host} answered no JSON") from exc
        token = (answer.get("token") or answer.get("access_token")) if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise BackendUnavailable(f"token service of {self.host} answered no token")
        return token

    def _send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        params: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
    ) -> httpx.Response:
        try:
            return self.client.request(method, url, headers=headers, params=params, data=data)
        except httpx.HTTPError as exc:
            # The URL carries no secret; the exception text (e.g. "Connection refused") neither.
            raise BackendUnavailable(
                f"registry {self.host} unreachable at {self.endpoint}: {type(exc).__name__}: {exc}"
            ) from exc
