"""Uploaded code archives in an S3 bucket: the AWS backend of ``CodeStore``.

The shared ``CodeStore`` validates an upload (size, readable tar/tar.gz, safe members) and
names it ``code://<sha256>``; this backend keeps it at ``<prefix><sha256>.tar.gz``. Writes
are idempotent: a ``HeadObject`` first, and an archive already stored is not uploaded
again (the same digest always carries the same bytes). The upload carries its SHA-256,
so S3 refuses bytes damaged on the way; ``fetch`` checks the digest again on the way out.

A missing object is NotFound; every other S3 or connection error is BackendUnavailable
with S3's code and message, never request data (``launchq.adapters.aws_sdk``, the AWS
edge, translates them and imports the SDK on first use).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING

from launchq.adapters import aws_sdk
from launchq.adapters.aws_sdk import aws_call
from launchq.domain.code_ref import CODE_SCHEME
from launchq.errors import BackendUnavailable, NotFound
from launchq.ports import CodeStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["S3CodeStore"]

_CHUNK = 1024 * 1024


class S3CodeStore(CodeStore):
    """Archives as objects ``s3://<bucket>/<prefix><sha256>.tar.gz``; the client built on first use."""

    def __init__(self, bucket: str, prefix: str = "code/", client: S3Client | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._client = client

    @property
    def client(self) -> S3Client:
        if self._client is None:
            self._client = aws_sdk.client("s3")
        return self._client

    def key(self, digest: str) -> str:
        """The object key of the archive with sha256 ``digest``."""
        return f"{self.prefix}{digest}.tar.gz"

    def _write(self, digest: str, data: bytes) -> None:
        key = self.key(digest)
        if aws_sdk.s3_object_exists(self.client, self.bucket, key):
            return
        with aws_call("S3 PutObject"):
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType="application/octet-stream",
                ChecksumSHA256=base64.b64encode(bytes.fromhex(digest)).decode(),
            )

    def _read_into(self, digest: str, path: Path) -> None:
        key = self.key(digest)
        try:
            with aws_call("S3 GetObject", aws_sdk.MISSING_OBJECT):
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
                with body, path.open("wb") as out:
                    for chunk in body.iter_chunks(_CHUNK):
                        out.write(chunk)
        except NotFound as exc:
            raise NotFound(f"no uploaded code {CODE_SCHEME}{digest}", field="uri") from exc
        except OSError as exc:
            raise BackendUnavailable(f"cannot write uploaded code to {path}: {exc}") from exc
