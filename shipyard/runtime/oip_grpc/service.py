"""The ``inference.GRPCInferenceService`` RPCs (and ``grpc.health.v1``) over the runtime's :class:`DataPlane`.

Each RPC is a thin translation, like the HTTP routes: the data plane holds the behaviour, so a
model answers the same over gRPC as over REST. The transport (:mod:`.http2`) hands over a call's
path, metadata and request bytes and gets back a :class:`Reply`; nothing here knows about frames.
What HTTP requests get, RPCs get too:

- **API keys**: ``authorization: Bearer <key>`` metadata, checked by the same
  :class:`~shipyard.runtime.auth.ApiKeyAuth`; ``ServerLive`` and ``ServerReady`` stay open like
  ``/v2/health/*``, and so does ``grpc.health.v1.Health/Check`` (what Kubernetes probes call). A
  missing or wrong key is ``UNAUTHENTICATED``.
- **Request ids**: ``x-request-id`` (and the Azure ids) are read from the metadata, or made, and
  sent back in the initial metadata, exactly as HTTP headers.
- **Errors**: a :class:`~shipyard.errors.ScoringError`'s HTTP status becomes the gRPC code KServe
  and Triton use for it (:mod:`.status`); a model's own exception is a generic ``INTERNAL`` naming
  the request id. Unknown methods and undecodable messages get grpcio's own codes and texts.
- **Metrics and access log**: one observation per RPC, route ``/inference.GRPCInferenceService/<RPC>``,
  method ``GRPC`` and the HTTP status the code stands for.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from shipyard.errors import ScoringError
from shipyard.runtime import request_ids
from shipyard.runtime.access_log import AccessLog
from shipyard.runtime.admission import Admission
from shipyard.runtime.auth import ApiKeyAuth
from shipyard.runtime.dataplane import DataPlane
from shipyard.runtime.metrics import Metrics
from shipyard.runtime.oip_grpc import codec, messages
from shipyard.runtime.oip_grpc.status import StatusCode, from_http

logger = logging.getLogger(__name__)

# The RPCs that stand for the open health routes (no API key), and the probes the access log skips.
_OPEN_AS = {"ServerLive": "/v2/health/live", "ServerReady": "/v2/health/ready"}
_PROBES = frozenset({"ServerLive", "ServerReady", "ModelReady"})
HEALTH_CHECK_PATH = f"/{messages.HEALTH_SERVICE}/Check"

Handler = Callable[[Any, str, "float | None"], Awaitable[Any]]


class Reply(NamedTuple):
    """What one call answers: a gRPC status, the serialized response (``None`` on an error) and
    the initial metadata (lower-case names, as HTTP/2 sends them)."""

    code: int
    details: str
    message: bytes | None
    headers: list[tuple[bytes, bytes]]


class _Abort(Exception):
    """An RPC ends with this HTTP-equivalent status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Route(NamedTuple):
    method: str
    route: str  # the metrics' and access log's route: the gRPC path
    auth_path: str
    probe: bool
    decode: Callable[[bytes], Any]
    now: Callable[[Any, str, "float | None"], Any]  # answers at once (ModelInfer: only when it may)
    later: Handler | None  # ModelInfer's full path: admission, batching, the scoring thread


class _Opened(NamedTuple):
    """A call once its ids are resolved and its message decoded, or the exception that stopped it."""

    started: float
    request_id: str
    id_headers: list[tuple[bytes, bytes]]
    request: Any
    failure: Exception | None


_UNIMPLEMENTED = Reply(StatusCode.UNIMPLEMENTED, "Method not found!", None, [])  # grpcio's answer


class InferenceService:
    """The service's handlers, bound to one data plane and the runtime's auth, metrics and log.

    A call is answered by :meth:`call_now` when nothing in it needs awaiting (every RPC but
    ``ModelInfer``, and ``ModelInfer`` itself when the model is scored inline on the event loop:
    no admission limit, no batcher, a small message, ``run()`` proved fast), so the transport
    answers it in the loop step that read it; otherwise by :meth:`call`, in a task.
    """

    def __init__(self, dataplane: DataPlane, *, auth: ApiKeyAuth, metrics: Metrics,
                 access_log: AccessLog | None, admission: Admission | None = None) -> None:  # fmt: skip
        self.dataplane = dataplane
        self.admission = admission  # the worker's scoring slots (SHIPYARD_MAX_CONCURRENT_REQUESTS), shared with REST
        self.auth = auth
        self.metrics = metrics
        self.access_log = access_log
        answers: dict[str, tuple[Callable[[Any, str, float | None], Any], Handler | None]] = {
            "ServerLive": (self.server_live, None),
            "ServerReady": (self.server_ready, None),
            "ModelReady": (self.model_ready, None),
            "ServerMetadata": (self.server_metadata, None),
            "ModelMetadata": (self.model_metadata, None),
            "ModelInfer": (self.model_infer_now, self.model_infer),
        }
        self.routes: dict[str, _Route] = {}
        for method, (request_class, _) in messages.METHODS.items():
            route = f"/{messages.SERVICE}/{method}"
            self.routes[route] = _Route(method, route, _OPEN_AS.get(method, route), method in _PROBES,
                                        request_class.FromString, *answers[method])

    def call_now(self, path: str, body: bytes, metadata: dict[bytes, bytes], peer: tuple[str, int] | None,
                 timeout_s: float | None) -> Reply | None:
        """Answer one unary call on the spot; ``None`` when it needs :meth:`call`. Never raises."""
        if path == HEALTH_CHECK_PATH:
            return self._health_check(body)
        route = self.routes.get(path)
        if route is None:
            return _UNIMPLEMENTED
        if route.later is not None and (self.admission is not None or not self.dataplane.infers_inline(len(body))):
            return None
        opened = self._open(route, body, metadata)
        response, failure = None, opened.failure
        if failure is None:
            try:
                response = route.now(opened.request, opened.request_id, timeout_s)
            except Exception as exc:
                failure = exc
        return self._close(route, peer, opened, response, failure)

    async def call(self, path: str, body: bytes, metadata: dict[bytes, bytes], peer: tuple[str, int] | None,
                   timeout_s: float | None) -> Reply:
        """Answer one unary call, awaiting what it needs (admission, batching, the scoring thread)."""
        route = self.routes.get(path)
        if route is None or route.later is None:
            return self.call_now(path, body, metadata, peer, timeout_s) or _UNIMPLEMENTED
        opened = self._open(route, body, metadata)
        response, failure = None, opened.failure
        if failure is None:
            try:
                response = await route.later(opened.request, opened.request_id, timeout_s)
            except Exception as exc:
                failure = exc
        return self._close(route, peer, opened, response, failure)

    # -- what every RPC goes through -------------------------------------------------------------
    def _open(self, route: _Route, body: bytes, metadata: dict[bytes, bytes]) -> _Opened:
        """Resolve the request ids, check the API key, decode the message (or say what failed)."""
        started = time.perf_counter()
        request_id, id_headers, id_error = request_ids.resolve(metadata)
        try:
            return _Opened(started, request_id, id_headers, self._admit(route, body, metadata, id_error), None)
        except Exception as exc:
            return _Opened(started, request_id, id_headers, None, exc)

    def _close(self, route: _Route, peer: tuple[str, int] | None, opened: _Opened, response: Any,
               failure: Exception | None) -> Reply:
        """The reply for the handler's response or failure; the metrics and the access log told."""
        if failure is None:
            reply, status = Reply(StatusCode.OK, "", response.SerializeToString(), opened.id_headers), 200
        else:
            status, message = self._failure(failure, route, opened.request_id)
            reply = Reply(from_http(status), message, None, opened.id_headers)
        self._observe(route, peer, status, opened.started, opened.request_id)
        return reply

    def _admit(self, route: _Route, body: bytes, metadata: dict[bytes, bytes], id_error: str | None) -> Any:
        """The decoded request, once the ids and the API key pass."""
        if id_error is not None:
            raise _Abort(431, id_error)
        denied = self.auth.check(route.auth_path, metadata.get(b"authorization"))
        if denied is not None:
            raise _Abort(401, denied[0])
        try:
            return route.decode(body)
        except Exception:  # protobuf's DecodeError, or worse
            raise _Abort(500, "Exception deserializing request!") from None  # grpcio's words, INTERNAL

    def _failure(self, exc: Exception, route: _Route, request_id: str) -> tuple[int, str]:
        """An exception as the HTTP-equivalent status and the message the client reads."""
        if isinstance(exc, _Abort):
            return exc.status, str(exc)
        if isinstance(exc, ScoringError):
            message = str(exc)
            if exc.status_code >= 500 and request_id not in message:
                message = f"{message} (request id {request_id})"
            return exc.status_code, message
        # a bug of ours, not the model's (those are ScoringErrors): still one answer
        logger.error("gRPC %s failed for request %s", route.method, request_id, exc_info=exc)
        return 500, f"internal error; request id {request_id}"

    def _observe(self, route: _Route, peer: tuple[str, int] | None, status: int, started: float,
                 request_id: str) -> None:
        seconds = time.perf_counter() - started
        self.metrics.observe_request(route.route, "GRPC", status, seconds)
        if self.access_log is not None and not (route.probe and self.access_log.quiet_routes):
            self.access_log.record(peer, "GRPC", route.route, status, seconds, request_id)

    def _health_check(self, body: bytes) -> Reply:
        """``grpc.health.v1.Health/Check``: SERVING once the model is ready (the server as a whole,
        or the inference service by name), as Kubernetes' gRPC probes expect."""
        try:
            request = messages.HealthCheckRequest.FromString(body)
        except Exception:
            return Reply(StatusCode.INTERNAL, "Exception deserializing request!", None, [])
        if request.service not in ("", messages.SERVICE):
            return Reply(StatusCode.NOT_FOUND, f"unknown service {request.service!r}", None, [])
        serving = 1 if self.dataplane.ready else 2  # SERVING / NOT_SERVING
        return Reply(StatusCode.OK, "", messages.HealthCheckResponse(status=serving).SerializeToString(), [])

    # -- the RPCs --------------------------------------------------------------------------------
    def server_live(self, request: Any, request_id: str, timeout_s: float | None) -> Any:
        return messages.ServerLiveResponse(live=True)

    def server_ready(self, request: Any, request_id: str, timeout_s: float | None) -> Any:
        return messages.ServerReadyResponse(ready=self.dataplane.ready)

    def model_ready(self, request: Any, request_id: str, timeout_s: float | None) -> Any:
        return messages.ModelReadyResponse(ready=self.dataplane.model_ready(request.name, request.version or None))

    def server_metadata(self, request: Any, request_id: str, timeout_s: float | None) -> Any:
        return messages.ServerMetadataResponse(**self.dataplane.server_metadata())

    def model_metadata(self, request: Any, request_id: str, timeout_s: float | None) -> Any:
        document = self.dataplane.model_metadata(request.name, request.version or None)
        response = messages.ModelMetadataResponse(
            name=document["name"], versions=document["versions"], platform=document["platform"]
        )
        for tensor in document["inputs"]:
            response.inputs.add(name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"])
        for tensor in document["outputs"]:
            response.outputs.add(name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"])
        return response

    async def model_infer(self, request: Any, request_id: str, timeout_s: float | None) -> Any:
        if self.admission is None:
            return await self._infer(request, request_id, timeout_s)
        refused = await self.admission.acquire()
        if refused is not None:
            raise _Abort(503, refused)  # UNAVAILABLE: the code gRPC clients retry
        try:
            return await self._infer(request, request_id, timeout_s)
        finally:
            self.admission.release()

    def model_infer_now(self, request: Any, request_id: str, timeout_s: float | None) -> Any:
        """``ModelInfer`` scored inline (:meth:`DataPlane.infers_inline` said it may)."""
        dataplane = self.dataplane
        dataplane.check_model(request.model_name, request.model_version or None)
        response = dataplane.infer_inline(codec.decode_request(request), request_id, deadline_s=timeout_s)
        return codec.encode_response(response, model_name=dataplane.model_name, model_version=dataplane.model_version)

    async def _infer(self, request: Any, request_id: str, timeout_s: float | None) -> Any:
        dataplane = self.dataplane
        dataplane.check_model(request.model_name, request.model_version or None)
        large = dataplane.is_large(request.ByteSize())  # decoded, scored and encoded off the event loop
        decoded = await dataplane.off_loop(codec.decode_request, request) if large else codec.decode_request(request)
        response = await dataplane.infer_request(decoded, request_id, deadline_s=timeout_s, large=large)
        encode = functools.partial(codec.encode_response, model_name=dataplane.model_name,
                                   model_version=dataplane.model_version)
        return await dataplane.off_loop(encode, response) if large else encode(response)
