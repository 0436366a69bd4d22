"""Where the ``kaniko`` builder leaves build contexts for Kaniko to fetch: ``build-context-store``.

Kaniko reads its ``--context`` from ``s3://``, ``gs://`` or an Azure blob URL. launchq
uploads to ``s3://`` today (through the AWS edge, ``launchq.adapters.aws_sdk``): a
``gs://`` or Azure URL is refused when the builder is made, naming the field, rather than
failing at the first build. Each build's context is its own object, ``<prefix><job name>.tar.gz``
(the job name is content-derived), so deleting it when that build ends never pulls a
context from under another build of the same image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from launchq.adapters import aws_sdk
from launchq.adapters.aws_sdk import aws_call
from launchq.errors import InvalidInput

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["FIELD", "S3ContextStore", "context_store"]

FIELD = "builder.build-context-store"
_S3 = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$")
_LATER = re.compile(r"^(gs://|https://[^./]+\.blob\.core\.windows\.net/)")


@dataclass
class S3ContextStore:
    """Build contexts as ``s3://<bucket>/<prefix><name>.tar.gz``; the client built on first use."""

    bucket: str
    prefix: str = ""
    client_: S3Client | None = field(default=None, repr=False)

    @property
    def client(self) -> S3Client:
        if self.client_ is None:
            self.client_ = aws_sdk.client("s3")
        return self.client_

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}.tar.gz"

    def url(self, name: str) -> str:
        """The ``--context`` Kaniko is given for build ``name``."""
        return f"s3://{self.bucket}/{self.key(name)}"

    def key_of(self, url: str) -> str | None:
        """The key of a URL this store made (None for any other URL)."""
        head = f"s3://{self.bucket}/"
        return url[len(head) :] if url.startswith(head) and url != head else None

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


def context_store(url: str, client: S3Client | None = None) -> S3ContextStore:
    """The store ``build-context-store`` names. Raises InvalidInput naming the field."""
    found = _S3.match(url)
    if found:
        prefix = (found["prefix"] or "").strip("/")
        return S3ContextStore(found["bucket"], f"{prefix}/" if prefix else "", client)
    if _LATER.match(url):
        raise InvalidInput(
            f"{url!r}: launchq's kaniko builder uploads build contexts to s3:// only for now "
            "(gs:// and Azure blob stores are not wired yet)",
            field=FIELD,
        )
    raise InvalidInput(f"{url!r} is not an s3://<bucket>/<prefix> URL", field=FIELD)
