"""An in-memory stand-in for ``google.cloud.aiplatform_v1.JobServiceClient`` (no Vertex AI emulator exists).

It takes requests as the generated client does (``request=`` a mapping, or the request
type), records every one (``requests``: method name and the request as a plain mapping),
and answers with the SDK's own ``CustomJob`` messages and ``google.api_core`` exceptions,
so ``VertexTarget`` is exercised through the same types and errors as against Google:

- ``create_custom_job`` gives the job a numeric id and ``JOB_STATE_QUEUED``;
- ``list_custom_jobs`` honours ``display_name="..."`` filters (the only form launchq sends);
- ``cancel_custom_job`` of a live job moves it to ``CANCELLING``; of any other job it
  raises ``FailedPrecondition``, as Vertex AI does; of an unknown one ``NotFound``;
- jobs move only when driven: ``advance(name)`` takes a job one step on
  (queued -> pending -> running -> succeeded; cancelling -> cancelled), ``set_state``
  puts it in any ``JobState`` (with an error message), ``fail_next`` makes the next
  call of a method raise a given exception.

Cloud Logging has no emulator either: ``logging_session()`` is a stand-in for the
``AuthorizedSession`` that ``vertex_logs.CloudLoggingReader`` posts ``entries:list`` to. It
answers with real ``requests.Response`` objects from the entries ``log(name, text)`` added
(a created job gets Vertex AI's first service entry), paged by ``pageSize``/``pageToken``.

The SDK is imported when the fake is made, never when this module loads.
"""

from __future__ import annotations

import itertools
import json as _json
import re
import threading
from collections.abc import Iterator
from typing import Any

from launchq.gcp.errors import import_sdk

__all__ = ["FakeJobService"]

_FILTER = re.compile(r'^display_name="(?P<name>[^"]*)"$')
_LOG_FILTER = re.compile(r'resource\.labels\.job_id="(?P<id>\d+)"')
_NEXT = {1: 2, 2: 3, 3: 4, 6: 7}  # queued -> pending -> running -> succeeded; cancelling -> cancelled
_CANCELLABLE = frozenset({0, 1, 2, 3, 8, 10})


class FakeJobService:
    """Custom jobs of any project and location, in memory; thread-safe."""

    def __init__(self) -> None:
        self.v1 = import_sdk("google.cloud.aiplatform_v1", "google-cloud-aiplatform")
        self.api = import_sdk("google.api_core.exceptions", "google-api-core")
        self.jobs: dict[str, Any] = {}
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._failures: dict[str, list[Exception]] = {}
        self.entries: dict[str, list[dict[str, Any]]] = {}  # Cloud Logging entries by job id
        self._ids = itertools.count(1_000_000_000_000_000)
        self._lock = threading.Lock()

    # -- the JobServiceClient methods launchq calls ---------------------------------------
    def create_custom_job(self, request: Any = None, **_: Any) -> Any:
        body = self._record("create_custom_job", self.v1.CreateCustomJobRequest, request)
        job = self.v1.CustomJob(body["custom_job"])
        with self._lock:
            job.name = f"{body['parent']}/customJobs/{next(self._ids)}"
            job.state = self.v1.JobState.JOB_STATE_QUEUED
            self.jobs[job.name] = job
        self.log(job.name, "Waiting for job to be provisioned.", service=True)
        return self.v1.CustomJob(job)

    def get_custom_job(self, request: Any = None, **_: Any) -> Any:
        body = self._record("get_custom_job", self.v1.GetCustomJobRequest, request)
        return self.v1.CustomJob(self._job(body["name"]))

    def list_custom_jobs(self, request: Any = None, **_: Any) -> Iterator[Any]:
        body = self._record("list_custom_jobs", self.v1.ListCustomJobsRequest, request)
        wanted = _FILTER.match(body.get("filter", ""))
        if body.get("filter") and wanted is None:
            raise self.api.InvalidArgument(
                f"the fake understands only display_name filters: {body['filter']}"
            )
        prefix = f"{body['parent']}/customJobs/"
        with self._lock:
            found = [
                self.v1.CustomJob(job)
                for name, job in self.jobs.items()
                if name.startswith(prefix) and (wanted is None or job.display_name == wanted["name"])
            ]
        return iter(found)

    def cancel_custom_job(self, request: Any = None, **_: Any) -> None:
        body = self._record("cancel_custom_job", self.v1.CancelCustomJobRequest, request)
        with self._lock:
            job = self._job(body["name"])
            if int(job.state) not in _CANCELLABLE:
                raise self.api.FailedPrecondition(
                    f"Cannot cancel the job {job.name} in state {job.state.name}."
                )
            job.state = self.v1.JobState.JOB_STATE_CANCELLING

    # -- driving the fake -----------------------------------------------------------------
    def advance(self, name: str) -> None:
        """One step on for a job that is not stuck or ended (see the module docstring)."""
        with self._lock:
            job = self.jobs.get(name)
            if job is not None and int(job.state) in _NEXT:
                job.state = self.v1.JobState(_NEXT[int(job.state)])

    def set_state(self, name: str, state: Any, error: str = "") -> None:
        with self._lock:
            job = self.jobs[name]
            job.state = self.v1.JobState(state)
            if error:
                job.error = {"code": 9, "message": error}

    def log(self, name: str, text: str, *, service: bool = False) -> None:
        """An entry of the job's in Cloud Logging: a replica's line, or Vertex AI's own message."""
        entry = {"jsonPayload": {"message": text}} if service else {"textPayload": text}
        with self._lock:
            self.entries.setdefault(name.rsplit("/", 1)[-1], []).append(entry)

    def logging_session(self) -> FakeLoggingSession:
        return FakeLoggingSession(self)

    def fail_next(self, method: str, exc: Exception) -> None:
        self._failures.setdefault(method, []).append(exc)

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [body for name, body in self.requests if name == method]

    # -- helpers --------------------------------------------------------------------------
    def _record(self, method: str, kind: Any, request: Any) -> dict[str, Any]:
        body: dict[str, Any] = kind.to_dict(
            kind(request), use_integers_for_enums=False, always_print_fields_with_no_presence=False
        )
        self.requests.append((method, body))
        pending = self._failures.get(method)
        if pending:
            raise pending.pop(0)
        return body

    def _job(self, name: str) -> Any:
        job = self.jobs.get(name)
        if job is None:
            raise self.api.NotFound(f"CustomJob {name} is not found.")
        return job


class FakeLoggingSession:
    """Answers ``POST .../v2/entries:list`` as Cloud Logging does, from a FakeJobService's entries."""

    def __init__(self, service: FakeJobService) -> None:
        self.service = service
        self.bodies: list[dict[str, Any]] = []

    def post(self, url: str, json: dict[str, Any], timeout: float | None = None) -> Any:
        requests = import_sdk("requests", "requests")
        self.bodies.append(json)
        found = _LOG_FILTER.search(str(json.get("filter", "")))
        with self.service._lock:
            entries = list(self.service.entries.get(found["id"], [])) if found else []
        start = int(json.get("pageToken") or 0)
        end = start + int(json.get("pageSize") or 50)
        page: dict[str, Any] = {"entries": entries[start:end]} if entries[start:end] else {}
        if end < len(entries):
            page["nextPageToken"] = str(end)
        response = requests.Response()
        response.status_code = 200
        response.url = url
        response.headers["content-type"] = "application/json"
        response._content = _json.dumps(page).encode()
        return response
