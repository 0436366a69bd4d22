"""The web dashboard: ``GET /`` and its assets, served by the same Router as the JSON API.

The page is plain HTML, CSS and vanilla JavaScript modules read from ``launchq/dashboard``
(shipped as package data, so the wheel and the Lambda layer carry it). There is no build
step and no npm bundle: the page is small, the browsers it targets all load ES modules
natively, and what the package ships is exactly what the browser runs, so a reviewer can read
it and nothing is fetched from the internet at run time (no CDN, no web fonts). The page only
calls the public JSON API, so it needs no second backend and sees what a CLI user sees.

Assets are served from a fixed allow-list by name (never a path built from the request, so a
``..`` cannot reach another file) with their content type, a ``Cache-Control`` and a strict
``Content-Security-Policy`` (everything from this origin only, no inline script or style).
The routes are public (``launchq.api.auth.PUBLIC_PATHS``): the page asks for an API key when
the JSON API answers 401, and keeps it in the tab's ``sessionStorage`` only.
"""

from __future__ import annotations

from functools import cache
from http import HTTPStatus
from importlib import resources
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import Router

from launchq.api.errors import error_response

ASSETS: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "format.js": "text/javascript; charset=utf-8",
    "queues.js": "text/javascript; charset=utf-8",
    "runs.js": "text/javascript; charset=utf-8",
    "run.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
"""Every file the dashboard serves, by the name in its URL, with its content type."""

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
"""Scripts, styles and API calls from this origin only: no inline script, nothing from elsewhere."""

PAGE_CACHE = "no-cache"
"""The page is revalidated on every load, so a new version's assets are picked up at once."""

ASSET_CACHE = "public, max-age=300"
"""Assets may be reused for five minutes: short, since their names carry no version."""


@cache
def asset_text(name: str) -> str:
    """The text of the asset ``name`` (one of ``ASSETS``), read once from the package."""
    return resources.files("launchq").joinpath("dashboard", name).read_text(encoding="utf-8")


def asset_response(name: str) -> Response[Any]:
    """The asset ``name`` with its headers; 404 (``field`` name) for a name not in ``ASSETS``."""
    content_type = ASSETS.get(name)
    if content_type is None:
        return error_response(HTTPStatus.NOT_FOUND, "not_found", f"no dashboard asset {name!r}", "name")
    return Response(
        status_code=HTTPStatus.OK,
        content_type=content_type,
        body=asset_text(name),
        headers={
            "Cache-Control": PAGE_CACHE if name == "index.html" else ASSET_CACHE,
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def build_dashboard_router() -> Router:
    """``GET /`` (the page) and ``GET /dashboard/<name>`` (its assets), kept out of ``/openapi.json``."""
    router = Router()

    @router.get("/", include_in_schema=False)
    def dashboard_page() -> Response[Any]:
        return asset_response("index.html")

    @router.get("/dashboard/<name>", include_in_schema=False)
    def dashboard_asset(name: str) -> Response[Any]:
        return asset_response(name)

    return router
