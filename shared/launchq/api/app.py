"""The HTTP apps: one Router, two resolvers (Lambda's HTTP API and local ASGI)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, HttpResolverLocal, Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

from launchq import __version__
from launchq.api.errors import register_error_handlers
from launchq.api.routes import build_router
from launchq.bootstrap import Services

TITLE = "launchq"


def _configure(app: ApiGatewayResolver, services: Services) -> None:
    register_error_handlers(app)
    app.include_router(build_router(services))
    app.enable_swagger(path="/docs", title=TITLE, version=__version__)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_json() -> Response[Any]:
        return Response(
            status_code=200,
            content_type="application/json",
            body=app.get_openapi_json_schema(title=TITLE, version=__version__),
        )


def lambda_app(services: Services) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    _configure(app, services)
    return app


def local_app(services: Services) -> HttpResolverLocal:
    app = HttpResolverLocal(enable_validation=True)
    _configure(app, services)
    return app
