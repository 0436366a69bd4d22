"""One Powertools resolver per thread, for the cloud front doors that are not Lambda.

A Cloud Function (functions-framework's gunicorn threads) and an Azure Function (the host's
thread pool) call the door from several threads at once, and a Powertools resolver keeps the
request it is resolving on itself: each thread gets its own, all over one ``Services``. An
exception out of the resolver is a bug in the door (the resolver maps every error it knows),
answered as a 500 naming an incident id that the function's log holds with the traceback.
"""

from __future__ import annotations

import logging
import threading
import uuid
from http import HTTPStatus
from typing import Any

from launchq.api.app import LocalHttpResolver, local_app
from launchq.api.auth import AuthMode
from launchq.api.gateway_event import error_result
from launchq.bootstrap import Services

__all__ = ["FunctionContext", "ThreadResolvers"]

log = logging.getLogger(__name__)


class FunctionContext:
    """What the resolver is handed as its Lambda context: the request id, nothing of AWS."""

    def __init__(self, request_id: str, function_name: str) -> None:
        self.aws_request_id = request_id
        self.function_name = function_name


class ThreadResolvers:
    """Resolves API Gateway v2 events with this thread's resolver."""

    def __init__(self, services: Services, function_name: str, auth: AuthMode = AuthMode.NONE) -> None:
        self.services = services
        self.auth = auth
        self.function_name = function_name
        self._local = threading.local()

    def _resolver(self) -> LocalHttpResolver:
        resolver: LocalHttpResolver | None = getattr(self._local, "resolver", None)
        if resolver is None:
            resolver = self._local.resolver = local_app(self.services, self.auth)
        return resolver

    def resolve(self, event: dict[str, Any]) -> dict[str, Any]:
        """The resolver's result for ``event``; a 500 with an incident id if the door broke."""
        context = FunctionContext(event["requestContext"]["requestId"], self.function_name)
        try:
            return self._resolver().resolve(event, context)
        except Exception:  # the resolver maps every error itself; this is a bug in the door
            incident = uuid.uuid4().hex[:12]
            log.exception("internal error %s", incident)
            detail = f"internal error; see the function's log for {incident}"
            return error_result(HTTPStatus.INTERNAL_SERVER_ERROR, "internal", detail)
