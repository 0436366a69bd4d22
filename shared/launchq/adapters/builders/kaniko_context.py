"""Where the ``kaniko`` builder leaves build contexts for Kaniko to fetch: ``build-context-store``.

Kaniko reads its ``--context`` from ``s3://``, ``gs://`` or an Azure blob URL, and so does
launchq: ``s3://`` through the AWS edge (``launchq.adapters.aws_sdk``), ``gs://`` and
``https://<account>.blob.core.windows.net/<container>/<prefix>`` through the Google and
Azure SDKs (``kaniko_context_gcs``, ``kaniko_context_azure``; imported only when such a
store is used, so the AWS stack never loads them). A URL of another form is refused when
the builder is made, naming the field, rather than failing at the first build.

Each build's context is its own object, ``<prefix><job name>.tar.gz`` (the job name is
content-derived), so deleting it when that build ends never pulls a context from under
another build of the same image. ``kaniko_secrets`` is what Kaniko itself needs to read
the context and the builder does not mount otherwise (Azure's account key): the builder
puts it in the build's own Secret, never in the Job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from launchq.adapters import aws_sdk
from launchq.adapters.aws_sdk import aws_call
from launchq.errors import InvalidInput

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["FIELD", "ContextStore", "KeyedStore", "S3ContextStore", "context_store"]

FIELD = "builder.build-context-store"
_S3 = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$")
FORMS = (
    "an s3://<bucket>/<prefix>, gs://<bucket>/<prefix> or "
    "https://<account>.blob.core.windows.net/<container>/<prefix> URL"
)


class ContextStore(Protocol):
    """What the builder needs of a store (each method raises BackendUnavailable, or LaunchFailed
    when the cloud's SDK is not installed)."""

    def url(self, name: str) -> str:
        """The ``--context`` Kaniko is given for build ``name``."""
        ...

    def upload(self, archive: Path, name: str) -> str:
        """Upload the packed context (unless it is there: a retried start); its URL."""
        ...

    def exists(self, url: str) -> bool: ...

    def delete(self, url: str) -> None:
        """Delete a context this store made; a URL it did not make, or one gone, is ignored."""
        ...

    def kaniko_secrets(self) -> dict[str, str]:
        """Environment variables (secret values) Kaniko needs to read this store's contexts."""
        ...


def prefix_of(path: str | None) -> str:
    """A key prefix ending in ``/`` (or empty) from the URL's path."""
    cleaned = (path or "").strip("/")
    return f"{cleaned}/" if cleaned else ""


class KeyedStore:
    """Keys and URLs shared by every store: ``<root><prefix><name>.tar.gz``."""

    prefix: str

    @property
    def root(self) -> str:
        """The URL of the bucket or container, ending in ``/``."""
        raise NotImplementedError

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}.tar.gz"

    def url(self, name: str) -> str:
        """The ``--context`` Kaniko is given for build ``name``."""
        return f"{self.root}{self.key(name)}"

    def key_of(self, url: str) -> str | None:
        """The key of a URL this store made (None for any other URL)."""
        return url[len(self.root) :] if url.startswith(self.root) and url != self.root else None

    def kaniko_secrets(self) -> dict[str, str]:
        """None by default: Kaniko reads with the pod's identity or the mounted cloud secret."""
        return {}


@dataclass
class S3ContextStore(KeyedStore):
    """Build contexts as ``s3://<bucket>/<prefix><name>.tar.gz``; the client built on first use."""

    bucket: str
    prefix: str = ""
    client_: S3Client | None = field(default=None, repr=False)

    @property
    def root(self) -> str:
        return f"s3://{self.bucket}/"

    @property
    def client(self) -> S3Client:
        if self.client_ is None:
            self.client_ = aws_sdk.client("s3")
        return self.client_

    def upload(self, archive: Path, name: str) -> str:
        """Upload the packed context (unless it is there: a retried start); its URL.

        Raises BackendUnavailable.
        """
        key = self.key(name)
        if not aws_sdk.s3_object_exists(self.client, self.bucket, key):
            with aws_call("S3 upload of the build context"):
                self.client.upload_file(
                    str(archive), self.bucket, key, ExtraArgs={"ContentType": "application/gzip"}
                )
        return self.url(name)

    def exists(self, url: str) -> bool:
        key = self.key_of(url)
        return key is not None and aws_sdk.s3_object_exists(self.client, self.bucket, key)

    def delete(self, url: str) -> None:
        """Delete a context this store made (S3 deletes are idempotent). Raises BackendUnavailable."""
        key = self.key_of(url)
        if key is not None:
            with aws_call("S3 delete of the build context"):
                self.client.delete_object(Bucket=self.bucket, Key=key)


def context_store(url: str, client: S3Client | None = None) -> ContextStore:
    """The store ``build-context-store`` names (``client``: an S3 client for ``s3://``).

    Raises InvalidInput naming the field.
    """
    found = _S3.match(url)
    if found:
        return S3ContextStore(found["bucket"], prefix_of(found["prefix"]), client)
    if url.startswith("gs://"):
        from launchq.adapters.builders.kaniko_context_gcs import gcs_store

        return gcs_store(url)
    if url.startswith(("https://", "http://")):
        from launchq.adapters.builders.kaniko_context_azure import azure_store

        return azure_store(url)
    raise InvalidInput(f"{url!r} is not {FORMS}", field=FIELD)
