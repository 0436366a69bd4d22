"""Azure Functions entry points (Python v2 programming model): one Function App, three functions.

- ``api`` (HTTP, route ``{*path}``): every route of the one launchq Router (``launchq.azure.http``).
  Anonymous to Azure on purpose: launchq's own API keys authenticate each request
  (``LAUNCHQ_AUTH=keys``, the default), as ``launchq serve --auth keys`` does; a Function key
  would be a second, role-less secret the launchq CLI does not send.
- ``dispatcher`` (Service Bus queue trigger on ``%LAUNCHQ_DOORBELL_QUEUE%``): claim and launch
  the rung queue's runs; the runtime completes the message on return, abandons it on a raise.
- ``reconciler`` (timer, every minute): stale claims, polling, cron schedules.

Thin on purpose: the logic is in ``launchq.azure``; each function builds its services once per
instance (``services_from_env``), at its first invocation. Nothing from boto3, botocore or
google is imported here (``tests/unit/test_cloud_imports.py``).
"""

from __future__ import annotations

from functools import cache

import azure.functions as func

from launchq.api.auth import AuthMode
from launchq.azure.events import dispatch_message, reconcile
from launchq.azure.http import HttpDoor
from launchq.azure.wiring import services_from_env, settings_from_env

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
SERVICEBUS_CONNECTION = (
    "LAUNCHQ_SERVICEBUS"  # app settings LAUNCHQ_SERVICEBUS__fullyQualifiedNamespace or ..._SERVICEBUS
)
DOORBELL_QUEUE = "%LAUNCHQ_DOORBELL_QUEUE%"  # the app setting, resolved by the Functions host
EVERY_MINUTE = "0 * * * * *"  # NCRONTAB: second 0 of every minute

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@cache
def _door() -> HttpDoor:
    return HttpDoor(services_from_env(), AuthMode(settings_from_env().auth))


@app.function_name("api")
@app.route(route="{*path}", methods=METHODS, auth_level=func.AuthLevel.ANONYMOUS)
def api(req: func.HttpRequest) -> func.HttpResponse:
    return _door()(req)


@app.function_name("dispatcher")
@app.service_bus_queue_trigger(
    arg_name="message",
    queue_name=DOORBELL_QUEUE,
    connection=SERVICEBUS_CONNECTION,
    auto_complete_messages=True,
)
def dispatcher(message: func.ServiceBusMessage) -> None:
    dispatch_message(services_from_env(), message)


@app.function_name("reconciler")
@app.timer_trigger(arg_name="timer", schedule=EVERY_MINUTE, run_on_startup=False, use_monitor=True)
def reconciler(timer: func.TimerRequest) -> None:
    reconcile(services_from_env(), timer)
