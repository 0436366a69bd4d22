"""Who is calling, what their role lets them do, and which entity's things they may see: one middleware.

Every route of the one Router passes through ``authorize`` (a Powertools global middleware,
so a new route is covered without a line of its own), which:

1. finds the caller: an ``Authorization: Bearer <api key>`` checked against the store on every
   request (``AuthMode.KEYS``: ``launchq serve --auth keys``), or the entity and role API
   Gateway's Lambda authorizer put in the request context (``AuthMode.AUTHORIZER``: the stack's
   ``ApiAuth=API_KEY``). Without auth (a loopback server, or IAM in front) every caller may do
   everything, as before;
2. checks the role (``read``: GET only; ``submit``: + enqueue/stop/replay runs, code uploads
   and the agent routes; ``admin``: everything in its entity) -- 403 otherwise;
3. checks the entity of every queue, run, schedule and key the request names (path, ``?queue=``,
   a body's ``queue``/``queues``): another entity's is a 404 worded exactly as a missing one,
   so a key never learns which names exist elsewhere. A body's ``entity`` (``POST /queues``,
   ``POST /keys``) must be the caller's and defaults to it;
4. narrows the lists it answers (``GET /queues``, ``GET /schedules``) to the caller's entity.
   ``GET /runs`` and ``GET /keys`` take it as a filter instead (``caller_of``), so their
   ``limit`` counts the caller's own.

A missing, malformed, unknown, revoked or wrong key is one 401 with ``WWW-Authenticate``
(RFC 6750) whose words never include the header's value; nothing here logs a header.
Powertools validates a request before any middleware runs, so a request whose parameters or
body are malformed gets its 422 even without a key: that reads no store and says nothing the
public ``/openapi.json`` does not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel

from launchq.api.errors import error_response
from launchq.domain.api_keys import Role, bearer_token, unknown_key
from launchq.errors import LaunchqError, NotFound

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver, Router
    from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

    from launchq.ports import RunStore
    from launchq.service.api_keys import KeyService


T = TypeVar("T")


class AuthMode(StrEnum):
    """How the API tells callers apart (``launchq serve --auth``, ``LAUNCHQ_AUTH``)."""

    NONE = "none"
    KEYS = "keys"
    AUTHORIZER = "authorizer"


@dataclass(frozen=True)
class Caller:
    """Who made the request: ``entity`` None means every entity (no auth, or IAM in front)."""

    entity: str | None
    role: Role


EVERYONE = Caller(entity=None, role=Role.ADMIN)
CONTEXT_KEY = "launchq_caller"
PUBLIC_PATHS = frozenset({"/healthz", "/openapi.json", "/docs", "/", "/dashboard/<name>"})
_SUBMIT_ROUTES = frozenset(
    {
        ("POST", "/queues/<name>/runs"),
        ("POST", "/queues/<name>/stop"),
        ("POST", "/runs/<run_id>/stop"),
        ("POST", "/runs/<run_id>/replay"),
        ("POST", "/code"),
    }
)
CHALLENGE = 'Bearer realm="launchq"'


class Forbidden(LaunchqError):
    """The caller's key may not do this (HTTP 403, answered by ``authorize``)."""


def caller_of(router: Router | ApiGatewayResolver) -> Caller:
    """The caller of the request being resolved (``EVERYONE`` when auth is off)."""
    caller = router.context.get(CONTEXT_KEY, EVERYONE)
    return caller if isinstance(caller, Caller) else EVERYONE


def needed_role(method: str, path: str) -> Role:
    """The least role that may call ``method path`` (``path`` as the route declares it)."""
    if path.startswith("/keys"):
        return Role.ADMIN
    if method in ("GET", "HEAD"):
        return Role.READ
    if path.startswith("/agents/") or (method, path) in _SUBMIT_ROUTES:
        return Role.SUBMIT
    return Role.ADMIN


def install_auth(app: ApiGatewayResolver, mode: AuthMode, store: RunStore, keys: KeyService) -> None:
    """Put the middleware on ``app`` (nothing for ``AuthMode.NONE``)."""
    if mode is AuthMode.NONE:
        return
    find = _bearer_caller(keys) if mode is AuthMode.KEYS else _authorizer_caller

    def authorize(app: ApiGatewayResolver, next_middleware: NextMiddleware) -> Response[Any]:
        route = app.context.get("_route")
        path = getattr(route, "path", "")
        if path in PUBLIC_PATHS:
            return next_middleware(app)
        caller = find(app)
        if caller is None:
            return _unauthorized(app)
        method = str(getattr(route, "method", app.current_event.http_method)).upper()
        needed = needed_role(method, path)
        if not caller.role.allows(needed):
            detail = f"a {caller.role.value} key cannot {method} {path} (it needs the {needed.value} role)"
            return _forbidden(Forbidden(detail, field="role"))
        app.append_context(**{CONTEXT_KEY: caller})
        if caller.entity is None:
            return next_middleware(app)
        scope = Scope(store, caller.entity)
        try:
            scope.check(app, path)
        except Forbidden as refused:
            return _forbidden(refused)
        return scope.narrow(path, next_middleware(app))

    app.use([authorize])


def _bearer_caller(keys: KeyService) -> Callable[[ApiGatewayResolver], Caller | None]:
    def find(app: ApiGatewayResolver) -> Caller | None:
        token = bearer_token(app.current_event.headers.get("authorization"))
        key = None if token is None else keys.authenticate(token)
        return None if key is None else Caller(entity=key.entity, role=key.role)

    return find


def _authorizer_caller(app: ApiGatewayResolver) -> Caller | None:
    """The entity and role the stack's Lambda authorizer returned (its simple response's context)."""
    context = (app.current_event.raw_event.get("requestContext") or {}).get("authorizer") or {}
    found = context.get("lambda") or {}
    try:
        return Caller(entity=str(found["entity"]), role=Role(found["role"]))
    except (KeyError, ValueError):
        return None


def _forbidden(refused: Forbidden) -> Response[Any]:
    return error_response(HTTPStatus.FORBIDDEN, "forbidden", refused.detail, refused.field)


def _unauthorized(app: ApiGatewayResolver) -> Response[Any]:
    given = bool(app.current_event.headers.get("authorization"))
    detail = (
        "the API key is not valid (malformed, unknown or revoked)"
        if given
        else "an API key is required: send Authorization: Bearer <key> (LAUNCHQ_API_KEY for the CLI)"
    )
    response = error_response(HTTPStatus.UNAUTHORIZED, "unauthorized", detail, "Authorization")
    response.headers["WWW-Authenticate"] = CHALLENGE + (', error="invalid_token"' if given else "")
    return response


@dataclass(frozen=True)
class Scope:
    """One entity's view of the store: what a request of that entity may name, and see listed."""

    store: RunStore
    entity: str

    def check(self, app: ApiGatewayResolver, path: str) -> None:
        """Raise NotFound (worded as for a missing thing) for anything of another entity the
        request names; set a body's missing ``entity`` to the caller's, refuse another.

        Reads the route's arguments as Powertools' request validation left them (it runs
        before every middleware): path and query values, and the body as its pydantic model."""
        args: dict[str, Any] = app.context.get("_route_args", {})
        for name in _queues_named(path, args):
            self._own_queue(name)
        if "run_id" in args:
            self._own_run(args["run_id"])
        if path.startswith("/schedules/<name>"):
            self._own_schedule(args["name"])
        if path.startswith("/keys/<key_id>"):
            self._own_key(args["key_id"])
        if path in ("/queues", "/keys") and isinstance(args.get("body"), BaseModel):
            args["body"] = _with_entity(args["body"], self.entity)

    def narrow(self, path: str, response: Response[Any]) -> Response[Any]:
        """``response`` of a listing with only this entity's items."""
        if path not in ("/queues", "/schedules") or response.status_code != HTTPStatus.OK:
            return response
        raw = response.body
        body: dict[str, Any] = json.loads(raw) if isinstance(raw, str | bytes) else dict(raw or {})
        if path == "/queues":
            body["queues"] = [q for q in body["queues"] if q.get("entity") == self.entity]
        else:
            own = {q.name for q in self.store.list_queues() if q.entity == self.entity}
            body["schedules"] = [s for s in body["schedules"] if s.get("queue") in own]
        response.body = body
        return response

    def _require(self, find: Callable[[], T], entity_of: Callable[[T], str], missing: NotFound) -> None:
        """Raise ``missing`` when what ``find`` finds belongs to another entity (nothing when
        it finds nothing: the route then says it is missing, in the same words)."""
        try:
            found = find()
        except NotFound:
            return
        if entity_of(found) != self.entity:
            raise missing

    def _queue_entity(self, name: str) -> str:
        try:
            return self.store.get_queue(name).entity
        except NotFound:
            return ""  # a schedule whose queue is gone belongs to no entity

    def _own_queue(self, name: str) -> None:
        missing = NotFound(f"queue {name!r} does not exist", field="queue")
        self._require(lambda: self.store.get_queue(name), lambda queue: queue.entity, missing)

    def _own_run(self, run_id: str) -> None:
        missing = NotFound(f"run {run_id!r} does not exist", field="run")
        self._require(lambda: self.store.get_run(run_id), lambda run: run.entity, missing)

    def _own_schedule(self, name: str) -> None:
        missing = NotFound(f"schedule {name!r} does not exist", field="schedule")
        self._require(lambda: self.store.get_schedule(name), lambda s: self._queue_entity(s.queue), missing)

    def _own_key(self, key_id: str) -> None:
        self._require(lambda: self.store.get_api_key(key_id), lambda key: key.entity, unknown_key(key_id))


def _queues_named(path: str, args: dict[str, Any]) -> list[str]:
    """The queues a request names: in its path, its ``?queue=``, its body's ``queue``/``queues``."""
    named = [args["name"]] if path.startswith("/queues/<name>") else []
    if isinstance(args.get("queue"), str):
        named.append(args["queue"])
    body = args.get("body")
    if isinstance(getattr(body, "queue", None), str):
        named.append(body.queue)  # type: ignore[union-attr]
    queues = getattr(body, "queues", None)
    if isinstance(queues, list):
        named.extend(q for q in queues if isinstance(q, str))
    return named


def _with_entity(body: BaseModel, entity: str) -> BaseModel:
    """A create body in the caller's entity: its own ``entity`` must be that one; none given
    becomes it. Raises Forbidden for another entity's."""
    given = getattr(body, "entity", None) if "entity" in body.model_fields_set else None
    if given is not None and given != entity:
        raise Forbidden(f"a key of entity {entity!r} acts only within it, not in {given!r}", field="entity")
    return body.model_copy(update={"entity": entity})
