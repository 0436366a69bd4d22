"""Driving the AWS Lambda handlers in tests: sample events from tests/events/ filled with
real requests and real SQS messages (the functions run in-process; the servers are real)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3

from functions.aws import api
from launchq.bootstrap import Services
from tests.functional.lambda_context import LambdaContext

EVENTS = Path(__file__).parents[1] / "events"
CTX = LambdaContext()


def load_event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


def http_event(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """An API Gateway HTTP API (v2) event for ``method path`` with a JSON body."""
    event = load_event("http-api-proxy.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["rawQueryString"], event["queryStringParameters"], event["cookies"] = "", {}, []
    event["headers"] = {"content-type": "application/json", **(headers or {})}
    event["body"] = json.dumps(body) if body is not None else None
    event["isBase64Encoded"] = False
    return event


def call_api(
    svc: Services, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """Invoke the API Lambda; returns (status, JSON body or None)."""
    response = api.handler(http_event(method, path, body, headers), CTX, svc)
    return int(response["statusCode"]), json.loads(response["body"]) if response["body"] else None


def doorbell_event(queue_url: str) -> dict[str, Any]:
    """The dispatcher's SQS event, built from the messages really waiting on the queue."""
    received = boto3.client("sqs").receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
    )
    template = load_event("sqs-receive-message.json")["Records"][0]
    records = []
    for message in received.get("Messages", []):
        record = copy.deepcopy(template)
        record.update(
            messageId=message["MessageId"], receiptHandle=message["ReceiptHandle"], body=message["Body"]
        )
        records.append(record)
    return {"Records": records}
