"""Google Cloud Functions (2nd gen) entry points, served by functions-framework.

- ``api`` (HTTP): every route of the one launchq Router (``launchq.gcp.http``).
- ``dispatcher`` (CloudEvent, Pub/Sub doorbell topic): claim and launch the rung queue's runs.
- ``reconciler`` (CloudEvent, Pub/Sub topic Cloud Scheduler publishes to every minute).
- ``target_events`` (CloudEvent, Pub/Sub topic a log sink routes Vertex AI job log entries to):
  reconcile that job's run at once (``launchq.gcp.events.target_event``).

Thin on purpose: the logic is in ``launchq.gcp``; each function builds its services once per
instance (``services_from_env``), at its first invocation. Nothing from boto3, botocore or
azure is imported here (``tests/unit/test_cloud_imports.py``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import functions_framework
from flask import Request, Response

from launchq.gcp.events import dispatch_ring, reconcile, target_event
from launchq.gcp.http import HttpDoor
from launchq.gcp.wiring import services_from_env


@cache
def _door() -> HttpDoor:
    return HttpDoor(services_from_env())


@functions_framework.http
def api(request: Request) -> Response:
    return _door()(request)


@functions_framework.cloud_event
def dispatcher(event: Any) -> None:
    dispatch_ring(services_from_env(), event.data)


@functions_framework.cloud_event
def reconciler(event: Any) -> None:
    reconcile(services_from_env())


@functions_framework.cloud_event
def target_events(event: Any) -> None:
    target_event(services_from_env(), event.data)
