"""The one ASGI layer every request passes: ids, auth, body-size check, metrics, access log.

Written as plain ASGI rather than Starlette's ``BaseHTTPMiddleware`` (which adds a task and a
memory stream per request) and as a single layer rather than one per concern, because it sits on
the hot path of every ``/score`` call. The concerns themselves live in their own modules
(:mod:`request_ids`, :mod:`auth`, :mod:`limits`, :mod:`metrics`); this only sequences them.

It wraps the *whole* FastAPI application, outside Starlette's error middleware, so even a 500
from an unexpected exception carries the request-id headers and is counted.

Hot endpoints (``/score``, V2 ``infer``) are raw ASGI callables that ``dispatch`` returns; they
skip FastAPI's routing and request objects. Everything else goes to the FastAPI app.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipyard.runtime import limits, request_ids
from shipyard.runtime.access_log import AccessLog
from shipyard.runtime.auth import ApiKeyAuth
from shipyard.runtime.metrics import Metrics
from shipyard.runtime.responses import ID_HEADERS_KEY, STATUS_KEY, send_error, start_message

logger = logging.getLogger(__name__)

REQUEST_ID = contextvars.ContextVar("shipyard_request_id", default="-")
"""The current request's id, for log records (see :mod:`shipyard.runtime.logconfig`)."""

ROUTE_KEY = "shipyard.route"  # scope key: the route template a raw endpoint served
REQUEST_ID_KEY = "shipyard.request_id"  # scope key: the request id endpoints put in bodies and logs
UNMATCHED = "unmatched"

Endpoint = Callable[[Scope, Receive, Send], object]


class RuntimeMiddleware:
    """Pure-ASGI wrapper around the FastAPI app."""

    def __init__(
        self,
        app: ASGIApp,
        scope_app: object,
        *,
        auth: ApiKeyAuth,
        metrics: Metrics,
        max_body_bytes: int,
        access_log: AccessLog | None,
        dispatch: Callable[[Scope], Endpoint | None],
    ) -> None:
        self.app = app
        self.scope_app = scope_app  # scope["app"] for what goes on to *app* (Starlette reads it)
        self.auth = auth if auth.enabled else None  # no keys configured: not even a call per request
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        # A declared length with fewer digits than the limit is under it without parsing (the
        # HTTP parser has already refused a Content-Length that is not a number).
        self._limit_digits = len(str(max_body_bytes))
        self.access_log = access_log
        self._quiet_routes = access_log.quiet_routes if access_log is not None else frozenset()
        self.dispatch = dispatch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            scope["app"] = self.scope_app
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers = dict(scope["headers"])  # built in C: cheaper than a Python loop looking for six names
        request_id, scope[ID_HEADERS_KEY], id_error = request_ids.resolve(headers)
        scope[REQUEST_ID_KEY] = request_id
        token = REQUEST_ID.set(request_id)
        path = scope["path"]
        try:
            if id_error:
                await send_error(scope, send, 431, id_error)
            elif self.auth is not None and (denied := self.auth.check(path, headers.get(b"authorization"))):
                await send_error(scope, send, 401, denied[0], [(b"www-authenticate", denied[1])])
            elif (length := headers.get(b"content-length")) is not None and len(length) >= self._limit_digits and (
                    rejected := limits.check_content_length(length, self.max_body_bytes)):
                await send_error(scope, send, *rejected)
            else:
                endpoint = self.dispatch(scope)
                if endpoint is not None:  # raw endpoints add the id headers themselves
                    await endpoint(scope, receive, send)
                else:
                    scope["app"] = self.scope_app
                    await self.app(scope, receive, _with_ids(scope, send))
        except Exception:
            logger.exception("unhandled error answering %s %s (request %s)", scope["method"], path, request_id)
            if STATUS_KEY not in scope:
                await send_error(scope, send, 500, "internal server error; see the server log",
                                 request_id=request_id)
        finally:
            seconds = time.perf_counter() - start
            status = scope.get(STATUS_KEY, 500)
            route = scope.get(ROUTE_KEY)
            if route is None:
                matched = scope.get("route")
                route = getattr(matched, "path", UNMATCHED)
            self.metrics.observe_request(route, scope["method"], status, seconds)
            if self.access_log is not None and route not in self._quiet_routes:  # probes: off by default
                self.access_log.record(scope.get("client"), scope["method"], path, status, seconds, request_id)
            REQUEST_ID.reset(token)


def _with_ids(scope: Scope, send: Send) -> Send:
    """*send* for the FastAPI app: its responses get the id headers and their status recorded."""

    async def send_with_ids(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = start_message(scope, message["status"], [*message.get("headers", ())])
        await send(message)

    return send_with_ids
