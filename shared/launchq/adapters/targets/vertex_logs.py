"""A Vertex AI custom job's output, read from Cloud Logging (``entries.list`` over REST).

Vertex AI sends every replica's stdout and stderr, and its own service messages ("Waiting
for job to be provisioned."), to Cloud Logging as entries of resource type ``ml_job``
labelled with the job's id. ``entries.list`` (filter ``resource.type="ml_job" AND
resource.labels.job_id="<id>"``, ``orderBy: timestamp asc``) returns them merged by time;
the offset counts entries already returned, so each call pages from the start, at most
``offset + MAX_ENTRIES`` entries (Cloud Logging has no index by entry number). An entry that
reaches Cloud Logging late for an earlier time than entries already returned is not returned.

The call is plain REST through ``google.auth``'s ``AuthorizedSession`` (Application Default
Credentials, scope ``logging.read``: the function's service account needs
``roles/logging.viewer``), so launchq needs no ``google-cloud-logging`` package. An HTTP
error answer becomes Google's own exception (``google.api_core.exceptions.from_http_response``)
and goes through the one SDK edge, ``launchq.gcp.errors.gcp_call``; no answer at all is
BackendUnavailable.
"""

from __future__ import annotations

from typing import Any

from launchq.errors import BackendUnavailable
from launchq.gcp.errors import gcp_call, import_sdk

__all__ = ["DEFAULT_ENDPOINT", "MAX_ENTRIES", "CloudLoggingReader"]

DEFAULT_ENDPOINT = "https://logging.googleapis.com"
MAX_ENTRIES = 10_000
PAGE_SIZE = 1_000
TIMEOUT = 30.0
_SCOPE = "https://www.googleapis.com/auth/logging.read"


def entry_text(entry: dict[str, Any]) -> str:
    """An entry's line: its ``textPayload``, else ``jsonPayload.message``; ending in a newline."""
    text = entry.get("textPayload")
    if not isinstance(text, str):
        payload = entry.get("jsonPayload")
        text = str(payload.get("message", "")) if isinstance(payload, dict) else ""
    return text if text.endswith("\n") else text + "\n"


class CloudLoggingReader:
    """Reads one project's ``ml_job`` entries; the session is built on first use unless given."""

    def __init__(self, project: str, *, endpoint: str = DEFAULT_ENDPOINT, session: Any | None = None) -> None:
        self.project = project
        self.endpoint = endpoint.rstrip("/")
        self._session = session

    @property
    def session(self) -> Any:
        if self._session is None:
            auth = import_sdk("google.auth", "google-auth")
            transport = import_sdk("google.auth.transport.requests", "google-auth")
            with gcp_call("Cloud Logging credentials"):
                credentials, _ = auth.default(scopes=[_SCOPE])
            self._session = transport.AuthorizedSession(credentials)
        return self._session

    def read(self, job_id: str, offset: int) -> tuple[str, int]:
        """The job's lines from entry ``offset`` on and the next offset. Raises BackendUnavailable."""
        entries = self._entries(job_id, offset + MAX_ENTRIES)
        chunk = entries[offset : offset + MAX_ENTRIES]
        return "".join(entry_text(entry) for entry in chunk), offset + len(chunk)

    def _entries(self, job_id: str, wanted: int) -> list[dict[str, Any]]:
        body: dict[str, Any] = {
            "resourceNames": [f"projects/{self.project}"],
            "filter": f'resource.type="ml_job" AND resource.labels.job_id="{job_id}"',
            "orderBy": "timestamp asc",
            "pageSize": PAGE_SIZE,
        }
        entries: list[dict[str, Any]] = []
        while len(entries) < wanted:
            page = self._page(dict(body))  # each request its own body (the token changes)
            entries += [entry for entry in page.get("entries") or [] if isinstance(entry, dict)]
            token = page.get("nextPageToken")
            if not token or token == body.get("pageToken"):
                break
            body["pageToken"] = token
        return entries

    def _page(self, body: dict[str, Any]) -> dict[str, Any]:
        api = import_sdk("google.api_core.exceptions", "google-api-core")
        requests = import_sdk("requests", "requests")
        with gcp_call(f"Cloud Logging entries.list for {self.project}"):
            try:
                response = self.session.post(f"{self.endpoint}/v2/entries:list", json=body, timeout=TIMEOUT)
            except requests.RequestException as exc:
                raise BackendUnavailable(f"Cloud Logging entries.list failed: {exc}") from exc
            if response.status_code >= 400:
                raise api.from_http_response(response)
        try:
            page = response.json()
        except ValueError:
            page = None
        if not isinstance(page, dict):
            raise BackendUnavailable(
                f"Cloud Logging entries.list for {self.project}: the answer is not a JSON object"
            )
        return page
