"""Kaniko build contexts in Azure blob storage: ``https://<account>.blob.core.windows.net/<container>/<prefix>``.

The ``--context`` is the blob's own URL, the form Kaniko reads (its README; also the
China, Germany and US Government clouds' ``blob.core.*`` hosts). Kaniko reads it with a
shared key only (``AZURE_STORAGE_ACCESS_KEY``), so the account key is what both sides use:

- **launchq uploads** with the key from ``AZURE_STORAGE_ACCESS_KEY`` in its own environment
  (the name W&B's agent uses; the Helm chart sets it from ``azureStorageAccessKey``), else
  with ``DefaultAzureCredential`` (workload identity, managed identity, ``az login``; it
  needs "Storage Blob Data Contributor" on the container).
- **Kaniko reads** with the same key, which the builder writes into the build's own Secret
  (owned by the Job, deleted with it) -- or, when launchq has no key, from an
  ``AZURE_STORAGE_ACCESS_KEY`` that ``kaniko-config`` gives the container (e.g. from your
  Secret); with neither, the build is refused before anything is uploaded.

For local tests (Azurite), a loopback ``http://127.0.0.1:<port>/<account>/<container>/<prefix>``
is accepted too: the account is then the path's first segment, as Azurite serves it. The
SDK (``azure-storage-blob``, launchq's ``azure`` extra) is imported on first use, and its
errors become launchq's here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launchq.adapters.builders.kaniko_context import FIELD, FORMS, KeyedStore, prefix_of
from launchq.errors import BackendUnavailable, InvalidInput, LaunchFailed

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient  # type: ignore[import-not-found,unused-ignore]

__all__ = ["ACCESS_KEY_ENV", "AzureBlobContextStore", "azure_store"]

ACCESS_KEY_ENV = "AZURE_STORAGE_ACCESS_KEY"
_CONTAINER = r"(?P<container>[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62})"
_CLOUD = re.compile(
    r"^https://(?P<account>[a-z0-9]{3,24})\.blob\.core\."
    r"(?:windows\.net|chinacloudapi\.cn|cloudapi\.de|usgovcloudapi\.net)"
    rf"/{_CONTAINER}(?:/(?P<prefix>.*))?$"
)
_LOOPBACK = re.compile(
    r"^http://(?P<host>127\.0\.0\.1|localhost|\[::1\]):(?P<port>\d{1,5})"
    rf"/(?P<account>[a-z0-9]{{3,24}})/{_CONTAINER}(?:/(?P<prefix>.*))?$"
)


@contextmanager
def azure_call(action: str) -> Iterator[None]:
    """Azure SDK errors leave as BackendUnavailable naming the action (never a credential)."""
    from azure.core.exceptions import AzureError  # type: ignore[import-not-found,unused-ignore]

    try:
        yield
    except AzureError as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise BackendUnavailable(f"{action} failed: {reason}", field=FIELD) from exc


@dataclass
class AzureBlobContextStore(KeyedStore):
    """Build contexts as ``<account URL>/<container>/<prefix><name>.tar.gz``."""

    account_url: str  # https://<account>.blob.core.windows.net (or Azurite's http://.../<account>)
    account: str
    container: str
    prefix: str = ""
    client_: ContainerClient | None = field(default=None, repr=False)

    @property
    def root(self) -> str:
        return f"{self.account_url}/{self.container}/"

    @property
    def client(self) -> ContainerClient:
        """The container's client, made on first use. Raises LaunchFailed without the SDK."""
        if self.client_ is None:
            try:
                from azure.storage.blob import ContainerClient  # type: ignore[import-not-found,unused-ignore]
            except ImportError as exc:
                raise LaunchFailed(
                    "Azure blob build contexts need the Azure SDK: pip install 'launchq[azure]'",
                    field=FIELD,
                ) from exc
            self.client_ = ContainerClient(self.account_url, self.container, credential=self._credential())
        return self.client_

    def _credential(self) -> Any:
        key = os.environ.get(ACCESS_KEY_ENV)
        if key:
            from azure.core.credentials import AzureNamedKeyCredential  # type: ignore[import-not-found,unused-ignore]

            return AzureNamedKeyCredential(self.account, key)
        try:
            from azure.identity import DefaultAzureCredential  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise LaunchFailed(
                f"without {ACCESS_KEY_ENV}, Azure blob build contexts need azure-identity: "
                "pip install 'launchq[azure]'",
                field=FIELD,
            ) from exc
        return DefaultAzureCredential()

    def kaniko_secrets(self) -> dict[str, str]:
        """The account key, when launchq has one (Kaniko reads Azure blobs with it only)."""
        key = os.environ.get(ACCESS_KEY_ENV)
        return {ACCESS_KEY_ENV: key} if key else {}

    def upload(self, archive: Path, name: str) -> str:
        """Upload the packed context (unless it is there: a retried start); its URL.

        Raises BackendUnavailable, LaunchFailed (no SDK).
        """
        blob = self.client.get_blob_client(self.key(name))
        with azure_call("Azure blob upload of the build context"):
            if not blob.exists():
                from azure.storage.blob import ContentSettings  # type: ignore[import-not-found,unused-ignore]

                with archive.open("rb") as data:
                    blob.upload_blob(
                        data,
                        overwrite=True,
                        content_settings=ContentSettings(content_type="application/gzip"),
                    )
        return self.url(name)

    def exists(self, url: str) -> bool:
        key = self.key_of(url)
        if key is None:
            return False
        with azure_call("Azure blob lookup of the build context"):
            return bool(self.client.get_blob_client(key).exists())

    def delete(self, url: str) -> None:
        """Delete a context this store made (one already gone is fine). Raises BackendUnavailable."""
        key = self.key_of(url)
        if key is None:
            return
        client = self.client
        from azure.core.exceptions import ResourceNotFoundError  # type: ignore[import-not-found,unused-ignore]

        with azure_call("Azure blob delete of the build context"):
            try:
                client.delete_blob(key)
            except ResourceNotFoundError:
                return


def azure_store(url: str) -> AzureBlobContextStore:
    """The store an Azure blob URL names. Raises InvalidInput naming the field."""
    found = _CLOUD.match(url)
    if found:
        host = url.split("/", 3)[2]
        return AzureBlobContextStore(
            f"https://{host}", found["account"], found["container"], prefix_of(found["prefix"])
        )
    local = _LOOPBACK.match(url)
    if local:
        account_url = f"http://{local['host']}:{local['port']}/{local['account']}"
        return AzureBlobContextStore(
            account_url, local["account"], local["container"], prefix_of(local["prefix"])
        )
    raise InvalidInput(
        f"{url!r} is not {FORMS} (an Azure container name is 3-63 lowercase letters, digits and "
        "single hyphens)",
        field=FIELD,
    )
