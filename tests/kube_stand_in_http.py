"""The HTTP front of the Kubernetes API stand-in: discovery, routing, watch streams, Status bodies."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from tests.kube_stand_in_objects import RESOURCES, ApiError, Key, api_version_of
from tests.loopback_http import QuietHandler

if TYPE_CHECKING:
    from tests.kube_stand_in import KubeStandIn

_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>log))?)?$"
)


def discovery(path: str) -> dict[str, Any] | None:
    if path == "/version":
        return {"major": "1", "minor": "31", "gitVersion": "v1.31.0", "platform": "linux/amd64"}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if path == "/apis":
        groups = [
            {
                "name": g,
                "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v},
            }
            for g, v in RESOURCES
            if g
        ]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    for (group, version), listed in RESOURCES.items():
        if path == ("/api/v1" if not group else f"/apis/{group}/{version}"):
            resources = [
                {
                    "name": plural,
                    "singularName": "" if "/" in plural else kind.lower(),
                    "namespaced": namespaced,
                    "kind": kind,
                    "verbs": ["get"]
                    if "/" in plural
                    else ["create", "delete", "get", "list", "patch", "watch"],
                }
                for plural, kind, namespaced in listed
            ]
            return {
                "kind": "APIResourceList",
                "groupVersion": api_version_of(group, version),
                "resources": resources,
            }
    return None


def _selectors(query: dict[str, str]) -> tuple[str, str]:
    return query.get("labelSelector", ""), query.get("fieldSelector", "")


def _missing(path: str) -> ApiError:
    return ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")


def handler(api: KubeStandIn) -> type[QuietHandler]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"  # chunked watch streams, kept-alive connections, as a real server

        def _json(self, status: int, body: dict[str, Any]) -> None:
            self.answer(status, {"Content-Type": "application/json"}, json.dumps(body).encode())

        def _route(self, method: str) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            api.requests.append((method, url.path))
            found = discovery(url.path) if method == "GET" else None
            match = _PATH.match(url.path)
            try:
                if found is not None:
                    self._json(200, found)
                elif match is None:
                    self._json(404, _missing(url.path).status())
                else:
                    self._resource(method, match, query)
            except ApiError as exc:
                self._json(exc.code, exc.status())

        def _resource(self, method: str, match: re.Match[str], query: dict[str, str]) -> None:
            api_version = match["core"] or f"{match['group']}/{match['version']}"
            plural, ns, name = match["plural"], match["ns"], match["name"]
            served = {(api_version_of(g, v), p) for (g, v), rs in RESOURCES.items() for p, _, _ in rs}
            if (api_version, plural) not in served:
                raise _missing(plural)
            key = (api_version, plural, ns, name or "")
            body = json.loads(self.read_body() or b"{}")
            if method == "POST":
                self._json(201, api.create(api_version, plural, ns, body))
            elif method == "DELETE":
                self._json(200, api.delete(key, body))
            elif method == "PATCH":
                self._json(200, api.patch(key, body))
            elif match["sub"] == "log":
                self._log(key, query)
            elif name:
                self._json(200, api.get(key))
            elif query.get("watch") in ("true", "1", "True"):
                timeout = float(query.get("timeoutSeconds", 5))
                self._watch(api.watch(*key[:3], *_selectors(query), timeout))
            else:
                items, version = api.list(*key[:3], *_selectors(query))
                meta = {"resourceVersion": str(version)}
                self._json(200, {"kind": "List", "apiVersion": api_version, "metadata": meta, "items": items})

        def _log(self, key: Key, query: dict[str, str]) -> None:
            pod = api.one("pods", key[3], key[2])
            if pod is None:
                raise ApiError(404, "NotFound", f'pods "{key[3]}" not found')
            containers = pod["spec"].get("containers") or []
            if len(containers) > 1 and "container" not in query:
                raise ApiError(400, "BadRequest", f"a container name must be specified for pod {key[3]}")
            container = query.get("container") or containers[0]["name"]
            text = api.logs.get((key[2], key[3], container), "")
            self.answer(200, {"Content-Type": "text/plain"}, text.encode())

        def _watch(self, events: Iterator[dict[str, Any]]) -> None:
            """Each event a chunk of its own, as the API server streams them (the client reads chunks)."""
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for event in events:
                line = json.dumps(event).encode() + b"\n"
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_DELETE(self) -> None:
            self._route("DELETE")

        def do_PATCH(self) -> None:
            self._route("PATCH")

    return Handler
