"""Kaniko build contexts in Google Cloud Storage: ``gs://<bucket>/<prefix>``.

launchq uploads with ``google-cloud-storage`` (launchq's ``gcp`` extra, imported on first
use) and Application Default Credentials: GKE workload identity, a service-account key in
``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth application-default login``; the client
honours ``STORAGE_EMULATOR_HOST``. Kaniko reads ``gs://`` contexts with the same kind of
credentials, which the Kaniko Job already has: the build pod's workload identity, or the
service-account key that ``secret-name``/``secret-key`` mount for an Artifact Registry
destination (``GOOGLE_APPLICATION_CREDENTIALS``). Nothing else is put in its Secret.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launchq.adapters.builders.kaniko_context import FIELD, FORMS, KeyedStore, prefix_of
from launchq.errors import BackendUnavailable, InvalidInput, LaunchFailed

if TYPE_CHECKING:
    from google.cloud.storage import Bucket  # type: ignore[import-untyped,import-not-found,unused-ignore]

__all__ = ["GcsContextStore", "gcs_store"]

# Bucket names: 3-63 characters (up to 222 with dots), lowercase letters, digits, -, _ and .
_GS = re.compile(r"^gs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(?:/(?P<prefix>.*))?$")


@contextmanager
def gcs_call(action: str) -> Iterator[None]:
    """Google SDK and transport errors leave as BackendUnavailable naming the action."""
    from google.api_core.exceptions import GoogleAPIError  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from google.auth.exceptions import GoogleAuthError  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from requests import RequestException  # type: ignore[import-untyped,import-not-found,unused-ignore]

    try:
        yield
    except (GoogleAPIError, GoogleAuthError, RequestException) as exc:
        raise BackendUnavailable(f"{action} failed: {type(exc).__name__}: {exc}", field=FIELD) from exc


@dataclass
class GcsContextStore(KeyedStore):
    """Build contexts as ``gs://<bucket>/<prefix><name>.tar.gz``; the client built on first use."""

    bucket_name: str
    prefix: str = ""
    # How long one call retries transient errors: the client's default (120 s) would hold a
    # dispatcher's start for minutes when GCS does not answer; the next poll retries anyway.
    retry_seconds: float = 20.0
    bucket_: Bucket | None = field(default=None, repr=False)

    @property
    def root(self) -> str:
        return f"gs://{self.bucket_name}/"

    @property
    def bucket(self) -> Bucket:
        """The bucket's handle (no request made). Raises LaunchFailed without the SDK, BackendUnavailable."""
        if self.bucket_ is None:
            try:
                from google.cloud import storage  # type: ignore[import-untyped,import-not-found,unused-ignore]
            except ImportError as exc:
                raise LaunchFailed(
                    "gs:// build contexts need the Google Cloud Storage SDK: pip install 'launchq[gcp]'",
                    field=FIELD,
                ) from exc
            with gcs_call("connecting to Google Cloud Storage"):
                self.bucket_ = storage.Client().bucket(self.bucket_name)
        return self.bucket_

    def upload(self, archive: Path, name: str) -> str:
        """Upload the packed context (unless it is there: a retried start); its URL.

        Raises BackendUnavailable, LaunchFailed (no SDK).
        """
        blob = self.bucket.blob(self.key(name))
        from google.api_core.exceptions import PreconditionFailed  # type: ignore[import-untyped,import-not-found,unused-ignore]

        with gcs_call("GCS upload of the build context"):
            if not blob.exists(retry=self._retry()):
                # Generation 0: create only, which makes the upload safe to retry; a
                # precondition failure is a racing retry of the same build that uploaded first.
                with contextlib.suppress(PreconditionFailed):
                    blob.upload_from_filename(
                        str(archive),
                        content_type="application/gzip",
                        if_generation_match=0,
                        retry=self._retry(),
                    )
        return self.url(name)

    def _retry(self) -> Any:
        from google.cloud.storage.retry import DEFAULT_RETRY  # type: ignore[import-untyped,import-not-found,unused-ignore]

        return DEFAULT_RETRY.with_timeout(self.retry_seconds)

    def exists(self, url: str) -> bool:
        key = self.key_of(url)
        if key is None:
            return False
        blob = self.bucket.blob(key)
        with gcs_call("GCS lookup of the build context"):
            return bool(blob.exists(retry=self._retry()))

    def delete(self, url: str) -> None:
        """Delete a context this store made (one already gone is fine). Raises BackendUnavailable."""
        key = self.key_of(url)
        if key is None:
            return
        blob = self.bucket.blob(key)
        from google.api_core.exceptions import NotFound  # type: ignore[import-untyped,import-not-found,unused-ignore]

        with gcs_call("GCS delete of the build context"):
            try:
                blob.delete(retry=self._retry())
            except NotFound:
                return


def gcs_store(url: str) -> GcsContextStore:
    """The store a ``gs://`` URL names. Raises InvalidInput naming the field."""
    found = _GS.match(url)
    if found is None:
        raise InvalidInput(f"{url!r} is not {FORMS}", field=FIELD)
    return GcsContextStore(found["bucket"], prefix_of(found["prefix"]))
