"""Uploaded code archives in a Google Cloud Storage bucket: the Google Cloud backend of ``CodeStore``.

The shared ``CodeStore`` validates an upload (size, readable tar/tar.gz, safe members) and
names it ``code://<sha256>``; this backend keeps it at ``gs://<bucket>/<prefix><sha256>.tar.gz``,
as the S3 store keeps it in its bucket, so a reference means the same bytes on every cloud.
Writes are idempotent: the object is looked up first and an archive already stored is not
sent again (a digest always carries the same bytes); the upload is create-only
(``ifGenerationMatch=0``), so two uploads of one archive at once leave one object, and it
carries the bytes' MD5, so GCS refuses bytes damaged on the way. ``fetch`` checks the
SHA-256 again on the way out.

The client is ``google-cloud-storage`` (launchq's ``gcp`` extra, imported on first use) with
Application Default Credentials -- the function's service account on Cloud Functions; it
honours ``STORAGE_EMULATOR_HOST``. Each call retries Google's transient errors for at most
``retry_seconds`` (the client's own default of 120 s would hold an API request past its
function's timeout). A missing object is NotFound; every other error goes through launchq's
one Google SDK edge (``launchq.gcp.errors.gcp_call``) and is BackendUnavailable with GCS's
words, never request data.

Uploads reach it through ``POST /code``, whose body is at most 6 MiB, so an archive is always
sent in one multipart request (the client switches to resumable uploads above 8 MiB).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from launchq.domain.code_ref import CODE_SCHEME
from launchq.errors import BackendUnavailable, NotFound
from launchq.gcp.errors import codes, gcp_call, import_sdk
from launchq.ports import CodeStore

__all__ = ["GcsCodeStore"]

_MISSING = codes(NotFound, "NotFound")


class GcsCodeStore(CodeStore):
    """Archives as objects ``gs://<bucket>/<prefix><sha256>.tar.gz``; the client built on first use."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "code/",
        *,
        project: str | None = None,
        client: Any | None = None,
        retry_seconds: float = 20.0,
    ) -> None:
        self.bucket_name = bucket
        self.prefix = prefix
        self.project = project
        self.retry_seconds = retry_seconds
        self._client = client
        self._bucket: Any | None = None

    @property
    def bucket(self) -> Any:
        """The bucket's handle (no request made). Raises BackendUnavailable (no SDK, no credentials)."""
        if self._bucket is None:
            if self._client is None:
                storage = import_sdk("google.cloud.storage", "google-cloud-storage")
                with gcp_call("building the Cloud Storage client", field="code"):
                    self._client = storage.Client(project=self.project)
            self._bucket = self._client.bucket(self.bucket_name)
        return self._bucket

    def key(self, digest: str) -> str:
        """The object name of the archive with sha256 ``digest``."""
        return f"{self.prefix}{digest}.tar.gz"

    def _retry(self) -> Any:
        retry = import_sdk("google.cloud.storage.retry", "google-cloud-storage")
        return retry.DEFAULT_RETRY.with_timeout(self.retry_seconds)

    def _write(self, digest: str, data: bytes) -> None:
        blob = self.bucket.blob(self.key(digest))
        api = import_sdk("google.api_core.exceptions", "google-api-core")
        with gcp_call(f"GCS upload of gs://{self.bucket_name}/{blob.name}"):
            if blob.exists(retry=self._retry()):
                return
            # A precondition failure is a concurrent upload of the same archive that won.
            with contextlib.suppress(api.PreconditionFailed):
                blob.upload_from_string(
                    data,
                    content_type="application/octet-stream",
                    if_generation_match=0,
                    checksum="md5",
                    retry=self._retry(),
                )

    def _read_into(self, digest: str, path: Path) -> None:
        blob = self.bucket.blob(self.key(digest))
        try:
            action = f"GCS download of gs://{self.bucket_name}/{blob.name}"
            with gcp_call(action, _MISSING), path.open("wb") as out:
                blob.download_to_file(out, retry=self._retry())
        except NotFound as exc:
            raise NotFound(f"no uploaded code {CODE_SCHEME}{digest}", field="uri") from exc
        except OSError as exc:
            raise BackendUnavailable(f"cannot write uploaded code to {path}: {exc}") from exc
