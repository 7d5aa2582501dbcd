"""``create_app(settings)``: the runtime's ASGI application, built on demand, never at import.

Composition only: the :class:`~shipyard.runtime.dataplane.DataPlane` holds the behaviour, the
route modules translate HTTP, and :class:`~shipyard.runtime.middleware.RuntimeMiddleware` wraps
the whole app. The model is loaded in the background when the app starts (the ASGI lifespan),
so health probes answer while ``init()`` runs; the hooks let the server exit when it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from shipyard import __version__
from shipyard.errors import ModelLoadError, ServerStartError
from shipyard.runtime import azure_routes, cors, health, metrics, v2_routes
from shipyard.runtime.access_log import FLUSH_INTERVAL_S, AccessLog
from shipyard.runtime.access_log import LOGGER_NAME as ACCESS_LOGGER
from shipyard.runtime.admission import Admission, limit_endpoint
from shipyard.runtime.auth import ApiKeyAuth
from shipyard.runtime.dataplane import DataPlane
from shipyard.runtime.middleware import Endpoint, RuntimeMiddleware
from shipyard.runtime.responses import AZURE_HTTP_ERRORS, error_response
from shipyard.runtime.settings import RuntimeSettings
from shipyard.scoring.base import ModelInfo, Scorer

logger = logging.getLogger(__name__)


class RuntimeApp(FastAPI):
    """FastAPI with :class:`RuntimeMiddleware` outside Starlette's own error handling."""

    wrap: Callable[[ASGIApp], ASGIApp] = staticmethod(lambda app: app)  # type: ignore[assignment]

    def build_middleware_stack(self) -> ASGIApp:
        return self.wrap(super().build_middleware_stack())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Starlette's own entry, without the per-request hooks newer FastAPI versions add here
        # (OpenTelemetry lookups): the runtime has its own metrics and this is every request's path.
        # A coroutine function, so servers that sniff the ASGI version (uvicorn) see ASGI 3.
        scope["app"] = self
        await self.server_entry()(scope, receive, send)

    def server_entry(self) -> ASGIApp:
        """The ASGI callable to give a server: the runtime's middleware, one coroutine layer below this.

        The middleware sets ``scope["app"]`` itself for everything it passes on to FastAPI, so a
        server calling it directly (``shipyard serve``) skips :meth:`__call__` on every request.
        """
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        return self.middleware_stack


def create_app(
    settings: RuntimeSettings,
    *,
    scorer_factory: Callable[[ModelInfo], Scorer] | None = None,
    on_ready: Callable[[], None] | None = None,
    on_load_failed: Callable[[ModelLoadError], None] | None = None,
) -> RuntimeApp:
    """Build the application serving one model.

    Args:
        settings: what to serve and how (limits, auth, threads).
        scorer_factory: builds the (unloaded) scorer; default: :func:`shipyard.scoring.create_scorer`.
        on_ready: called once the model has loaded.
        on_load_failed: called when loading fails (after the traceback is logged); without it the
            app stays up answering 503, which suits embedding but not a production server.

    Returns:
        The ASGI app; the model loads when its lifespan starts.
    """
    app_metrics = metrics.Metrics(settings.resolved_model_name)
    access_log = None
    if settings.access_log and logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.INFO):
        access_log = AccessLog(settings.log_format, log_probes=settings.log_probes)
    dataplane = DataPlane(settings, scorer_factory=scorer_factory, observe_model_time=app_metrics.observe_model,
                          observe_batch=app_metrics.observe_batch)
    auth = ApiKeyAuth(settings.api_keys)
    slots = None  # scoring slots, shared by /score, V2 REST infer and gRPC ModelInfer
    if settings.max_concurrent_requests is not None:
        slots = Admission(settings.max_concurrent_requests, max_queue=settings.max_queue,
                          max_wait_s=settings.max_queue_wait_ms / 1000.0)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        grpc_servers: list[Any] = []

        async def serve_grpc() -> None:  # once the model is ready: no worker takes gRPC calls before
            if settings.grpc_port is not None:
                grpc_servers.append(await _start_grpc(settings, dataplane, auth, app_metrics, access_log, slots))

        loading = asyncio.create_task(_load(dataplane, on_ready, on_load_failed, serve_grpc))
        flushing = asyncio.create_task(_flush_regularly(app_metrics, access_log))
        try:
            yield
        finally:
            loading.cancel()
            flushing.cancel()
            for grpc_server in grpc_servers:
                await grpc_server.stop(settings.graceful_timeout_s)
            await dataplane.close()
            app_metrics.flush()
            if access_log is not None:
                access_log.flush()

    app = RuntimeApp(
        title="Shipyard runtime", version=__version__, lifespan=lifespan,
        docs_url=None, redoc_url=None, openapi_url=None,
    )  # fmt: skip
    app.state.dataplane = dataplane
    app.state.metrics = app_metrics
    health.register(app, dataplane)
    azure_routes.register(app, dataplane)
    v2_routes.register(app, dataplane)
    metrics.register(app, app_metrics)
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]

    # Bound methods rather than the instances: calling an instance goes through its type's slot.
    score = azure_routes.ScoreEndpoint(dataplane, settings.max_body_bytes).__call__
    infer = v2_routes.InferEndpoint(dataplane, settings.max_body_bytes).__call__
    if slots is not None:
        score, infer = limit_endpoint(score, slots), limit_endpoint(infer, slots)

    def dispatch(scope: Scope) -> Endpoint | None:
        path = scope["path"]
        if path == azure_routes.SCORE_PATH:
            return score
        if v2_routes.is_infer_path(path):
            return infer
        return None

    def wrap(inner: ASGIApp) -> ASGIApp:
        runtime = RuntimeMiddleware(
            inner,
            app,
            auth=auth,
            metrics=app_metrics,
            max_body_bytes=settings.max_body_bytes,
            access_log=access_log,
            dispatch=dispatch,
        )
        return cors.wrap(runtime, settings.cors_origins)

    app.wrap = wrap  # type: ignore[method-assign]
    return app


async def _start_grpc(
    settings: RuntimeSettings, dataplane: DataPlane, auth: ApiKeyAuth, app_metrics: metrics.Metrics,
    access_log: AccessLog | None, slots: Admission | None,
) -> Any:
    """The started gRPC server (imported only when ``grpc_port`` is set: protobuf is a large module)."""
    try:
        from shipyard.runtime.oip_grpc.server import start_grpc_server
    except ImportError as exc:
        raise ServerStartError(
            f"SHIPYARD_GRPC_PORT / --grpc-port asks for gRPC, but {exc.name or 'protobuf'} is not installed: "
            "pip install protobuf hpack, or leave the gRPC port unset"
        ) from exc
    from shipyard.runtime.oip_grpc.service import InferenceService

    service = InferenceService(dataplane, auth=auth, metrics=app_metrics, access_log=access_log, admission=slots)
    return await start_grpc_server(
        service, host=settings.host, port=settings.grpc_port or 0, max_message_bytes=settings.max_body_bytes,
        max_header_bytes=settings.max_header_bytes, shared_port=settings.workers > 1,
        preface_timeout_s=settings.header_timeout_s,
    )  # fmt: skip


async def _load(
    dataplane: DataPlane,
    on_ready: Callable[[], None] | None,
    on_load_failed: Callable[[ModelLoadError], None] | None,
    after_load: Callable[[], Awaitable[None]],
) -> None:
    try:
        await dataplane.load()
        await after_load()
    except ModelLoadError as exc:
        # The summary on the record's first line, the traceback after it: what to read comes first.
        logger.error("Model '%s' failed to load: %s", dataplane.model_name, exc, exc_info=exc)
        if on_load_failed is not None:
            on_load_failed(exc)
        return
    except ServerStartError as exc:  # the gRPC port: as fatal as a model that cannot load
        logger.error("%s", exc)
        if on_load_failed is not None:
            on_load_failed(ModelLoadError(str(exc)))
        return
    if on_ready is not None:
        on_ready()


async def _flush_regularly(app_metrics: metrics.Metrics, access_log: AccessLog | None) -> None:
    """Write buffered access-log lines, and hand request tallies to prometheus-client.

    With several workers, every 0.2 s: the tallies then go to the shared files that other
    workers' scrapes read, and survive this process being killed (``kill -9``, out of memory),
    so a kill loses at most the last 0.2 s of this worker's counts. A graceful stop (SIGTERM, a
    recycle) loses nothing: the lifespan flushes on the way out. In one process, every second.
    """
    every = 1 if app_metrics.multiprocess else 5
    ticks = 0
    while True:
        await asyncio.sleep(FLUSH_INTERVAL_S)
        if access_log is not None:
            access_log.flush()
        ticks += 1
        if ticks % every == 0:
            app_metrics.flush()


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """Unknown routes and wrong methods answer JSON like every other error."""
    message = exc.detail if exc.status_code != 404 else f"no route {request.method} {request.url.path}"
    return error_response(exc.status_code, str(message), dict(exc.headers or {}),
                          azure_message=AZURE_HTTP_ERRORS.get(exc.status_code))
