"""The HTTP apps: one Router, built into API Gateway HTTP API resolvers for Lambda and local mode.

Local mode runs the very resolver class Lambda runs (``APIGatewayHttpResolver``), fed the
same v2 events by ``launchq.local.asgi``; only where a request's state lives differs (see
``LocalHttpResolver``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from launchq import __version__
from launchq.api.agent_routes import build_agent_router
from launchq.api.auth import AuthMode, install_auth
from launchq.api.dashboard_routes import build_dashboard_router
from launchq.api.errors import register_error_handlers
from launchq.api.job_routes import build_job_router
from launchq.api.key_routes import build_key_router
from launchq.api.limits import load_body
from launchq.api.routes import build_router
from launchq.bootstrap import Services
from launchq.service.api_keys import KeyService

TITLE = "launchq"


def _configure(app: ApiGatewayResolver, services: Services, auth: AuthMode = AuthMode.NONE) -> None:
    register_error_handlers(app)
    keys = KeyService(services.ctx.store, services.ctx.clock)
    install_auth(app, auth, services.ctx.store, keys)
    app.include_router(build_key_router(keys, services.ctx.settings.entity))
    app.include_router(build_router(services))
    app.include_router(build_agent_router(services))
    app.include_router(build_job_router(services))
    app.include_router(build_dashboard_router())
    app.enable_swagger(path="/docs", title=TITLE, version=__version__)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_json() -> Response[Any]:
        return Response(
            status_code=200,
            content_type="application/json",
            body=app.get_openapi_json_schema(title=TITLE, version=__version__),
        )


def lambda_app(services: Services, auth: AuthMode = AuthMode.NONE) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=load_body)
    _configure(app, services, auth)
    return app


class LocalHttpResolver(APIGatewayHttpResolver):
    """Lambda's resolver, made safe to run in several threads at once, one instance per thread.

    Powertools keeps the request being resolved on the class (``BaseRouter.current_event``
    and ``lambda_context`` are assigned on ``BaseRouter`` itself): fine in Lambda, where a
    process serves one request at a time, but two threads resolving at once would read each
    other's event. Here both live on the instance (the properties shadow the class
    attributes for every read in the resolver, its middlewares and the included Router), and
    the routing context (``self.context``) already does, so one instance per worker thread
    keeps every request to itself.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._own_event: BaseProxyEvent | None = None
        self._own_lambda_context: Any = None

    @property  # type: ignore[override]
    def current_event(self) -> BaseProxyEvent:
        if self._own_event is None:
            raise RuntimeError("no request is being resolved")
        return self._own_event

    @current_event.setter
    def current_event(self, value: BaseProxyEvent) -> None:
        self._own_event = value

    @property
    def lambda_context(self) -> Any:
        return self._own_lambda_context

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        self._own_lambda_context = value

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:  # type: ignore[override]
        self._own_event = self._to_proxy_event(event)
        self._own_lambda_context = context
        try:
            return super().resolve(event, context)
        finally:
            self._own_event = self._own_lambda_context = None


def local_app(services: Services, auth: AuthMode = AuthMode.NONE) -> LocalHttpResolver:
    """A resolver for one worker thread of the local server (``launchq.local.asgi``)."""
    app = LocalHttpResolver(enable_validation=True, json_body_deserializer=load_body)
    _configure(app, services, auth)
    return app
