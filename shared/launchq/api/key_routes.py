"""The API-key routes (tag ``keys``, admin keys only): ``launchq keys create/list/revoke`` over HTTP.

A key's secret is in the answer to ``POST /keys`` and nowhere else, ever: lists show each key's
id, entity, role, name and times, never its secret or hash. An admin key sees and revokes the
keys of its own entity (``launchq.api.auth`` checks it like every other route); without auth
(a loopback server) the caller sees every entity's.
"""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import Router
from pydantic import BaseModel, Field

from launchq.api.auth import caller_of
from launchq.api.responses import WITH_BODY, documented
from launchq.api.routes import _json as json_response
from launchq.domain.api_keys import ApiKey, Role
from launchq.service.api_keys import KeyCreate, KeyService

TAGS = ["keys"]


class KeyView(BaseModel):
    """A key as the API shows it: never its secret, never its hash."""

    id: str
    entity: str
    role: Role
    name: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyView:
        return cls(**key.model_dump(exclude={"hash"}))


class KeyCreated(KeyView):
    key: str = Field(description="the full key, shown this once: send it as Authorization: Bearer <key>")


class KeyList(BaseModel):
    keys: list[KeyView]


def build_key_router(keys: KeyService, default_entity: str) -> Router:
    """The key routes; ``default_entity`` is the entity of a key made without auth and without one."""
    router = Router()

    @router.post(
        "/keys",
        tags=TAGS,
        responses=documented(HTTPStatus.CREATED, KeyCreated, HTTPStatus.CONFLICT, *WITH_BODY),
    )
    def create_key(body: KeyCreate) -> Response[Any]:
        entity = body.entity or caller_of(router).entity or default_entity
        record, token = keys.create(entity, body.role, body.name)
        return json_response(KeyCreated(**KeyView.of(record).model_dump(), key=token), HTTPStatus.CREATED)

    @router.get("/keys", tags=TAGS, responses=documented(HTTPStatus.OK, KeyList))
    def list_keys() -> Response[Any]:
        """The keys of the caller's entity (every entity's without auth), revoked ones too, oldest first."""
        return json_response(KeyList(keys=[KeyView.of(k) for k in keys.list(caller_of(router).entity)]))

    @router.delete(
        "/keys/<key_id>", tags=TAGS, responses=documented(HTTPStatus.OK, KeyView, HTTPStatus.NOT_FOUND)
    )
    def revoke_key(key_id: str) -> Response[Any]:
        """Revoke the key: the next request sending it gets 401. A second revoke keeps the first time."""
        return json_response(KeyView.of(keys.revoke(key_id, caller_of(router).entity)))

    return router
