"""Uploaded code archives in an S3 bucket: the AWS backend of ``CodeStore``.

The shared ``CodeStore`` validates an upload (size, readable tar/tar.gz, safe members) and
names it ``code://<sha256>``; this backend keeps it at ``<prefix><sha256>.tar.gz``. Writes
are idempotent: a ``HeadObject`` first, and an archive already stored is not uploaded
again (the same digest always carries the same bytes). The upload carries its SHA-256,
so S3 refuses bytes damaged on the way; ``fetch`` checks the digest again on the way out.

A missing object is NotFound; every other S3 or connection error is BackendUnavailable
with S3's code and message, never request data. boto3 is imported on first use.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING

from launchq.build.code_store import CODE_SCHEME, CodeStore
from launchq.errors import BackendUnavailable, NotFound

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["S3CodeStore"]

_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_CHUNK = 1024 * 1024


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _sdk_error(exc: Exception, action: str) -> BackendUnavailable:
    """BackendUnavailable with S3's code and message (no request data)."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return BackendUnavailable(
            f"S3 {action} failed: {error.get('Code', 'error')}: {error.get('Message', '')}"
        )
    return BackendUnavailable(f"S3 {action} failed: {type(exc).__name__}: {exc}")


class S3CodeStore(CodeStore):
    """Archives as objects ``s3://<bucket>/<prefix><sha256>.tar.gz``; the client built on first use."""

    def __init__(self, bucket: str, prefix: str = "code/", client: S3Client | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._client = client

    @property
    def client(self) -> S3Client:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def key(self, digest: str) -> str:
        """The object key of the archive with sha256 ``digest``."""
        return f"{self.prefix}{digest}.tar.gz"

    def _write(self, digest: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.key(digest)
        if self._exists(key):
            return
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType="application/octet-stream",
                ChecksumSHA256=base64.b64encode(bytes.fromhex(digest)).decode(),
            )
        except (ClientError, BotoCoreError) as exc:
            raise _sdk_error(exc, "PutObject") from exc

    def _read_into(self, digest: str, path: Path) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.key(digest)
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            with body, path.open("wb") as out:
                for chunk in body.iter_chunks(_CHUNK):
                    out.write(chunk)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise NotFound(f"no uploaded code {CODE_SCHEME}{digest}", field="uri") from exc
            raise _sdk_error(exc, "GetObject") from exc
        except BotoCoreError as exc:
            raise _sdk_error(exc, "GetObject") from exc
        except OSError as exc:
            raise BackendUnavailable(f"cannot write uploaded code to {path}: {exc}") from exc

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise _sdk_error(exc, "HeadObject") from exc
        except BotoCoreError as exc:
            raise _sdk_error(exc, "HeadObject") from exc
        return True
