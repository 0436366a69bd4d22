"""launchq on Azure Functions: the three functions of ``functions/azure/function_app.py`` (issue 13).

No Functions host can run here (Core Tools downloads a binary), so the test does what the
``azure-functions`` package allows: ``app.get_functions()`` lists the functions with their
bindings, and each registered user function is invoked with the package's real request,
Service Bus message and timer objects. Behind them are the real wiring (``azure_context``),
the Azure Tables store on Azurite, and the Service Bus doorbell on the SDK-boundary stand-in
(Service Bus has no local server); the target is the package's fake ``local-process`` target,
so runs move without a cluster.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any
from uuid import uuid4

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage as FunctionsServiceBusMessage
from azure.functions.timer import TimerRequest
from azure.servicebus import ServiceBusReceivedMessage

from functions.azure import function_app
from launchq.adapters.doorbells.servicebus import message_body
from launchq.adapters.targets.fake import FakeTarget
from launchq.api.auth import AuthMode
from launchq.azure.http import HttpDoor
from launchq.azure.settings import AzureSettings
from launchq.azure.wiring import azure_context
from launchq.bootstrap import Services, build_services
from launchq.service.targets import TargetCatalog
from tests.servicebus_stand_in import ServiceBusStandIn

QUEUE = "launchq-doorbell"


@cache
def _functions() -> dict[str, Any]:
    """The app's functions by name: ``get_functions`` indexes the app once, as the worker does
    (a second call refuses the names as duplicates)."""
    return {f.get_function_name(): f for f in function_app.app.get_functions()}


class Deployment:
    """One Function App's worth of services, with what the test drives behind them."""

    def __init__(self, services: Services, bus: ServiceBusStandIn, target: FakeTarget) -> None:
        self.services, self.bus, self.target = services, bus, target
        self.functions = _functions()

    def call(self, name: str, *args: Any) -> Any:
        return self.functions[name].get_user_function()(*args)

    def http(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> func.HttpResponse:
        data = b"" if body is None else json.dumps(body).encode()
        wire = {"content-type": "application/json", "x-forwarded-for": "203.0.113.7:51234", **(headers or {})}
        request = func.HttpRequest(
            method, f"https://launchq-test.azurewebsites.net{path}", headers=wire, body=data
        )
        response: func.HttpResponse = self.call("api", request)
        return response

    def deliver(self) -> list[str]:
        """Receive every waiting doorbell message and hand each to the dispatcher function as the
        Functions runtime would (completed when it returns, abandoned when it raises)."""
        receiver = self.bus.client().get_queue_receiver(QUEUE)
        rung = []
        with receiver:
            for received in receiver.receive_messages(max_message_count=100):
                try:
                    self.call("dispatcher", _functions_message(received))
                except Exception:
                    receiver.abandon_message(received)
                    raise
                receiver.complete_message(received)
                rung.append(json.loads(message_body(received))["queue"])
        return rung


def _functions_message(received: ServiceBusReceivedMessage) -> FunctionsServiceBusMessage:
    """The trigger's message object for a received one, as the Functions worker builds it."""
    return FunctionsServiceBusMessage(
        body=message_body(received),
        message_id=str(received.message_id),
        delivery_count=received.delivery_count,
        sequence_number=received.sequence_number,
        enqueued_time_utc=received.enqueued_time_utc,
        content_type=received.content_type,
        subject=received.subject,
        application_properties={},
        user_properties={},
    )


@pytest.fixture
def deploy(monkeypatch: pytest.MonkeyPatch, azurite_tables_conn: str) -> Iterator[Callable[..., Deployment]]:
    """Deploys the Function App (its settings from app settings) onto Azurite and the stand-in."""

    def make(auth: str = "none") -> Deployment:
        monkeypatch.setenv("LAUNCHQ_TABLES_CONNECTION", azurite_tables_conn)
        monkeypatch.setenv("LAUNCHQ_TABLE_PREFIX", f"f{uuid4().hex[:12]}")
        monkeypatch.setenv(
            "LAUNCHQ_SERVICEBUS__fullyQualifiedNamespace", "launchq-test.servicebus.windows.net"
        )
        monkeypatch.setenv("LAUNCHQ_DOORBELL_QUEUE", QUEUE)
        monkeypatch.setenv("LAUNCHQ_AUTH", auth)
        settings = AzureSettings()
        bus, target = ServiceBusStandIn((QUEUE,)), FakeTarget()
        ctx = azure_context(settings, servicebus=bus.client())  # type: ignore[arg-type]
        ctx.store.ensure_tables()  # type: ignore[attr-defined]
        ctx.targets = TargetCatalog({target.resource: target})  # runs move without a cluster
        services = build_services(ctx)
        monkeypatch.setattr(function_app, "services_from_env", lambda: services)
        monkeypatch.setattr(function_app, "settings_from_env", lambda: settings)
        function_app._door.cache_clear()
        return Deployment(services, bus, target)

    yield make
    function_app._door.cache_clear()


def _json(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


def test_the_app_lists_three_functions_with_their_bindings() -> None:
    functions = _functions()
    assert set(functions) == {"api", "dispatcher", "reconciler"}
    bindings = {name: [b.get_dict_repr() for b in f.get_bindings()] for name, f in functions.items()}
    http_in, http_out = bindings["api"]
    assert (http_in["type"], http_in["route"], str(http_in["authLevel"].value)) == (
        "httpTrigger",
        "{*path}",
        "anonymous",
    )
    assert {str(m.value) for m in http_in["methods"]} >= {"GET", "POST", "PATCH", "DELETE"}
    assert http_out["type"] == "http"
    [bus] = bindings["dispatcher"]
    assert (bus["type"], bus["queueName"], bus["connection"]) == (
        "serviceBusTrigger",
        "%LAUNCHQ_DOORBELL_QUEUE%",
        "LAUNCHQ_SERVICEBUS",
    )
    assert bus["autoCompleteMessages"] is True
    [timer] = bindings["reconciler"]
    assert (timer["type"], timer["schedule"], timer["runOnStartup"]) == ("timerTrigger", "0 * * * * *", False)


def test_the_http_function_serves_the_router(deploy: Callable[..., Deployment]) -> None:
    app = deploy()
    # GIVEN a queue made over the HTTP function
    made = app.http("POST", "/queues", {"name": "gpu", "resource": "local-process", "max_jobs": 1})
    assert made.status_code == 201, made.get_body()
    assert made.headers["content-type"] == "application/json"
    # WHEN two runs are enqueued
    first = _json(
        app.http("POST", "/queues/gpu/runs", {"entry_point": ["python", "a.py"], "priority": "low"})
    )
    second = app.http("POST", "/queues/gpu/runs", {"entry_point": ["python", "b.py"], "priority": "critical"})
    assert second.status_code == 201
    # THEN they are listed in line: critical first
    listed = _json(app.http("GET", "/runs?queue=gpu&state=queued"))
    runs = listed["runs"] if isinstance(listed, dict) else listed
    assert [r["id"] for r in sorted(runs, key=lambda r: r["position"])] == [_json(second)["id"], first["id"]]
    # AND each enqueue rang the doorbell on Service Bus, naming the queue
    assert {m.application_properties["queue"] for _, m in app.bus.sent} == {"gpu"}
    # AND the OpenAPI document is the one Router's
    assert "/queues/{name}/runs" in _json(app.http("GET", "/openapi.json"))["paths"]


def test_bad_input_is_a_4xx_naming_the_field_and_nothing_is_stored(deploy: Callable[..., Deployment]) -> None:
    app = deploy()
    refused = app.http("POST", "/queues", {"name": "gpu", "resource": "local-process", "max_jobs": 0})
    assert refused.status_code == 422
    assert "max_jobs" in json.dumps(_json(refused))
    assert app.http("GET", "/queues/gpu").status_code == 404
    missing = app.http("GET", "/runs/0123456789abcdef")
    assert (missing.status_code, _json(missing)["error"]) == (404, "not_found")
    too_big = app.http("POST", "/queues", {"name": "x" * 3_000_000})
    assert (too_big.status_code, _json(too_big)["field"]) == (413, "body")


def test_api_keys_guard_the_anonymous_function(deploy: Callable[..., Deployment]) -> None:
    app = deploy(auth="keys")
    refused = app.http("GET", "/queues")
    assert refused.status_code == 401
    _, key = _first_key(app.services)
    allowed = app.http("GET", "/queues", headers={"authorization": f"Bearer {key}"})
    assert allowed.status_code == 200, allowed.get_body()
    assert key not in refused.get_body().decode()


def _first_key(services: Services) -> tuple[Any, str]:
    from launchq.service.api_keys import KeyService

    return KeyService(services.ctx.store).first_admin(services.ctx.settings.entity)


def test_the_service_bus_trigger_dispatches_the_rung_queue(deploy: Callable[..., Deployment]) -> None:
    app = deploy()
    app.http("POST", "/queues", {"name": "gpu", "resource": "local-process", "max_jobs": 1})
    first = _json(app.http("POST", "/queues/gpu/runs", {"entry_point": ["python", "a.py"]}))
    second = _json(app.http("POST", "/queues/gpu/runs", {"entry_point": ["python", "b.py"]}))
    # WHEN the doorbell message reaches the dispatcher function
    assert set(app.deliver()) == {"gpu"}  # rings within one second fold (duplicate detection)
    # THEN the first run was submitted to the target; the second waits for the one slot
    assert _json(app.http("GET", f"/runs/{first['id']}"))["state"] in {"starting", "running"}
    assert _json(app.http("GET", f"/runs/{second['id']}"))["state"] == "queued"
    assert [run_id for run_id, _ in app.target.attempts] == [first["id"]]
    assert app.bus.depth(QUEUE) == 0  # completed


def test_a_message_that_is_not_a_doorbell_fails_the_function_so_it_is_abandoned(
    deploy: Callable[..., Deployment],
) -> None:
    app = deploy()
    message = FunctionsServiceBusMessage(
        body=b"hello", message_id="m1", application_properties={}, user_properties={}
    )
    with pytest.raises(Exception, match="not a doorbell message"):
        app.call("dispatcher", message)


def test_the_timer_trigger_runs_the_reconciler(deploy: Callable[..., Deployment]) -> None:
    app = deploy()
    app.http("POST", "/queues", {"name": "gpu", "resource": "local-process", "max_jobs": 1})
    run = _json(app.http("POST", "/queues/gpu/runs", {"entry_point": ["python", "a.py"]}))
    app.deliver()
    stored = app.services.ctx.store.get_run(run["id"])
    # GIVEN the job ran to its end on the target
    app.target.advance(stored)
    app.target.advance(stored)
    # WHEN the timer fires (late, as after a scale from zero)
    app.call("reconciler", TimerRequest(past_due=True))
    # THEN the reconciler polled the target and the run is finished
    assert _json(app.http("GET", f"/runs/{run['id']}"))["state"] == "finished"


def test_the_door_answers_a_percent_encoded_path_and_a_query_given_as_params(
    deploy: Callable[..., Deployment],
) -> None:
    app = deploy()
    door = HttpDoor(app.services, AuthMode.NONE)
    request = func.HttpRequest("GET", "https://h/queues/no%20such", headers={}, params={"x": "1"}, body=b"")
    answer = door(request)
    assert answer.status_code in (404, 422)
    assert _json(answer)["error"]
