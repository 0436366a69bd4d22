"""The dashboard's routes (``launchq.api.dashboard_routes``) on Lambda's own resolver: what each
asset is served with, that only the allow-list is served, and that the assets stay self-contained
(no script or style from elsewhere, no inline script, every module they import is served)."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from launchq.api.dashboard_routes import ASSETS, CONTENT_SECURITY_POLICY, build_dashboard_router
from launchq.api.errors import register_error_handlers
from launchq.api.gateway_event import HttpRequest, http_api_event

DASHBOARD = resources.files("launchq").joinpath("dashboard")


def get(raw_path: str) -> dict[str, Any]:
    app = APIGatewayHttpResolver()
    register_error_handlers(app)
    app.include_router(build_dashboard_router())
    event = http_api_event(HttpRequest("GET", raw_path, raw_path, "", [], b""))
    result: dict[str, Any] = app.resolve(event, None)  # type: ignore[arg-type]  # no Lambda here
    return result


@pytest.mark.parametrize(
    ("path", "content_type", "cache"),
    [
        ("/", "text/html; charset=utf-8", "no-cache"),
        ("/dashboard/index.html", "text/html; charset=utf-8", "no-cache"),
        ("/dashboard/app.js", "text/javascript; charset=utf-8", "public, max-age=300"),
        ("/dashboard/runs.js", "text/javascript; charset=utf-8", "public, max-age=300"),
        ("/dashboard/style.css", "text/css; charset=utf-8", "public, max-age=300"),
    ],
)
def test_each_asset_has_its_content_type_cache_and_csp(path: str, content_type: str, cache: str) -> None:
    result = get(path)
    headers = result["headers"]
    assert result["statusCode"] == 200
    assert headers["Content-Type"] == content_type
    assert headers["Cache-Control"] == cache
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"
    name = "index.html" if path == "/" else path.rsplit("/", 1)[1]
    assert result["body"] == DASHBOARD.joinpath(name).read_text(encoding="utf-8")


def test_the_policy_allows_this_origin_only_and_no_inline_script() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "unsafe-eval" not in CONTENT_SECURITY_POLICY
    assert directives["frame-ancestors"] == "'none'"


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/nope.js",
        "/dashboard/..",
        "/dashboard/..%2Fapi%2Fauth.py",
        "/dashboard/../api/auth.py",
        "/dashboard/%2e%2e%2f__init__.py",
        "/dashboard/__init__.py",
        "/dashboard/",
    ],
)
def test_a_name_off_the_allow_list_is_404_and_reads_no_file(path: str) -> None:
    result = get(path)
    assert result["statusCode"] == 404
    assert result["headers"]["Content-Type"] == "application/json"
    assert '"error":"not_found"' in result["body"].replace(" ", "")
    assert "import" not in result["body"]  # no Python or JS source leaked


def test_every_file_shipped_is_served_and_every_served_name_exists() -> None:
    shipped = {p.name for p in DASHBOARD.iterdir() if p.is_file()}
    assert shipped == set(ASSETS)


def test_every_module_and_link_the_page_uses_is_on_the_allow_list() -> None:
    used: set[str] = set()
    for name in ASSETS:
        text = DASHBOARD.joinpath(name).read_text(encoding="utf-8")
        used.update(re.findall(r'from "\./([\w.]+)"', text))
        used.update(re.findall(r'(?:src|href)="/dashboard/([\w.]+)"', text))
    assert used, "the page imports nothing?"
    assert used <= set(ASSETS)
    assert {"app.js", "style.css", "queues.js", "runs.js", "run.js", "api.js", "format.js"} <= used


def test_nothing_is_fetched_from_elsewhere_and_no_script_is_inline() -> None:
    for name in ASSETS:
        text = DASHBOARD.joinpath(name).read_text(encoding="utf-8")
        assert not re.search(r"https?://", text), f"{name} names a URL elsewhere"
        assert "@import" not in text
        assert "@font-face" not in text
        assert not re.search(r"\son\w+=", text), f"{name} has an inline event handler"
        assert "innerHTML" not in text, f"{name} writes HTML from strings"
    page = DASHBOARD.joinpath("index.html").read_text(encoding="utf-8")
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, flags=re.S)
    assert scripts
    assert all('src="/dashboard/' in attrs and not body.strip() for attrs, body in scripts)
    assert " style=" not in page


def test_on_aws_only_the_page_and_its_assets_are_routed_without_credentials() -> None:
    """The stack's unauthenticated routes are GET-only, exactly the dashboard's, and exist only
    where a browser can call the API (API keys or no auth: a browser cannot SigV4-sign)."""
    from tests.functional.test_sam_template import RESOURCES, TEMPLATE

    assert TEMPLATE["Conditions"]["BrowserAuth"] == {"Not": [{"Equals": [{"Ref": "ApiAuth"}, "AWS_IAM"]}]}
    routes = {
        r["Properties"]["RouteKey"]: r for r in RESOURCES.values() if r["Type"] == "AWS::ApiGatewayV2::Route"
    }
    open_routes = {key for key, r in routes.items() if r["Properties"]["AuthorizationType"] == "NONE"}
    assert open_routes == {"GET /", "GET /dashboard/{proxy+}"}
    for key in open_routes:
        assert routes[key]["Condition"] == "BrowserAuth"
        assert routes[key]["Properties"]["Target"] == {"Sub": "integrations/${HttpApiIntegration}"}
    assert routes["ANY /{proxy+}"]["Properties"]["AuthorizationType"] != "NONE"  # the JSON API's own
