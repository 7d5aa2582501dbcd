"""The ``inference.GRPCInferenceService`` RPCs over the runtime's :class:`DataPlane`.

Each RPC is a thin translation, like the HTTP routes: the data plane holds the behaviour, so a
model answers the same over gRPC as over REST. What HTTP requests get, RPCs get too:

- **API keys**: ``authorization: Bearer <key>`` metadata, checked by the same
  :class:`~shipyard.runtime.auth.ApiKeyAuth`; ``ServerLive`` and ``ServerReady`` stay open like
  ``/v2/health/*``. A missing or wrong key is ``UNAUTHENTICATED``.
- **Request ids**: ``x-request-id`` (and the Azure ids) are read from the metadata, or made, and
  sent back in the initial metadata, exactly as HTTP headers.
- **Errors**: a :class:`~shipyard.errors.ScoringError`'s HTTP status becomes the gRPC code KServe
  and Triton use for it (400 ``INVALID_ARGUMENT``, 404 ``NOT_FOUND``, 503 ``UNAVAILABLE``, 504
  ``DEADLINE_EXCEEDED``, ...); a model's own exception is a generic ``INTERNAL`` naming the request id.
- **Metrics and access log**: one observation per RPC, route ``/inference.GRPCInferenceService/<RPC>``,
  method ``GRPC`` and the HTTP status the code stands for.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from shipyard.errors import ScoringError
from shipyard.runtime import request_ids
from shipyard.runtime.access_log import AccessLog
from shipyard.runtime.admission import Admission
from shipyard.runtime.auth import ApiKeyAuth
from shipyard.runtime.dataplane import DataPlane
from shipyard.runtime.metrics import Metrics
from shipyard.runtime.oip_grpc import codec, messages

logger = logging.getLogger(__name__)

STATUS_CODES: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    431: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
"""HTTP status -> gRPC code; anything else 4xx is INVALID_ARGUMENT, 5xx INTERNAL."""
# The RPCs that stand for the open health routes (no API key), and the probes the access log skips.
_OPEN_AS = {"ServerLive": "/v2/health/live", "ServerReady": "/v2/health/ready"}
_PROBES = frozenset({"ServerLive", "ServerReady", "ModelReady"})

Handler = Callable[[Any, grpc.aio.ServicerContext, str], Awaitable[Any]]


class _Abort(Exception):
    """An RPC ends with this HTTP-equivalent status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def grpc_code(status: int) -> grpc.StatusCode:
    return STATUS_CODES.get(status, grpc.StatusCode.INVALID_ARGUMENT if status < 500 else grpc.StatusCode.INTERNAL)


class InferenceService:
    """The service's handlers, bound to one data plane and the runtime's auth, metrics and log."""

    def __init__(self, dataplane: DataPlane, *, auth: ApiKeyAuth, metrics: Metrics,
                 access_log: AccessLog | None, admission: Admission | None = None) -> None:  # fmt: skip
        self.dataplane = dataplane
        self.admission = admission  # the worker's scoring slots (SHIPYARD_MAX_CONCURRENT_REQUESTS), shared with REST
        self.auth = auth
        self.metrics = metrics
        self.access_log = access_log
        self._handlers: dict[str, Handler] = {
            "ServerLive": self.server_live,
            "ServerReady": self.server_ready,
            "ModelReady": self.model_ready,
            "ServerMetadata": self.server_metadata,
            "ModelMetadata": self.model_metadata,
            "ModelInfer": self.model_infer,
        }

    def generic_handler(self) -> grpc.GenericRpcHandler:
        """All RPCs, as grpc's generic handler (the messages come from our own descriptor pool)."""
        rpcs = {}
        for method, (request_class, response_class) in messages.METHODS.items():
            rpcs[method] = grpc.unary_unary_rpc_method_handler(
                self._wrap(method, self._handlers[method]),
                request_deserializer=request_class.FromString,
                response_serializer=response_class.SerializeToString,
            )
        return grpc.method_handlers_generic_handler(messages.SERVICE, rpcs)

    # -- the RPCs --------------------------------------------------------------------------------
    async def server_live(self, request: Any, context: grpc.aio.ServicerContext, request_id: str) -> Any:
        return messages.ServerLiveResponse(live=True)

    async def server_ready(self, request: Any, context: grpc.aio.ServicerContext, request_id: str) -> Any:
        return messages.ServerReadyResponse(ready=self.dataplane.ready)

    async def model_ready(self, request: Any, context: grpc.aio.ServicerContext, request_id: str) -> Any:
        return messages.ModelReadyResponse(ready=self.dataplane.model_ready(request.name, request.version or None))

    async def server_metadata(self, request: Any, context: grpc.aio.ServicerContext, request_id: str) -> Any:
        return messages.ServerMetadataResponse(**self.dataplane.server_metadata())

    async def model_metadata(self, request: Any, context: grpc.aio.ServicerContext, request_id: str) -> Any:
        document = self.dataplane.model_metadata(request.name, request.version or None)
        response = messages.ModelMetadataResponse(
            name=document["name"], versions=document["versions"], platform=document["platform"]
        )
        for tensor in document["inputs"]:
            response.inputs.add(name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"])
        for tensor in document["outputs"]:
            response.outputs.add(name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"])
        return response

    async def model_infer(self, request: Any, context: grpc.aio.ServicerContext, request_id: str) -> Any:
        if self.admission is None:
            return await self._infer(request, context, request_id)
        refused = await self.admission.acquire()
        if refused is not None:
            raise _Abort(503, refused)  # UNAVAILABLE: the code gRPC clients retry
        try:
            return await self._infer(request, context, request_id)
        finally:
            self.admission.release()

    async def _infer(self, request: Any, context: grpc.aio.ServicerContext, request_id: str) -> Any:
        dataplane = self.dataplane
        dataplane.check_model(request.model_name, request.model_version or None)
        large = dataplane.is_large(request.ByteSize())  # decoded, scored and encoded off the event loop
        decoded = await dataplane.off_loop(codec.decode_request, request) if large else codec.decode_request(request)
        response = await dataplane.infer_request(decoded, request_id, deadline_s=context.time_remaining(), large=large)
        encode = functools.partial(codec.encode_response, model_name=dataplane.model_name,
                                   model_version=dataplane.model_version)
        return await dataplane.off_loop(encode, response) if large else encode(response)

    # -- what every RPC goes through -------------------------------------------------------------
    def _wrap(self, method: str, handler: Handler) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        route = f"/{messages.SERVICE}/{method}"
        auth_path = _OPEN_AS.get(method, route)
        probe = method in _PROBES

        async def rpc(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            metadata = {key.encode("latin-1"): value.encode("latin-1") if isinstance(value, str) else value
                        for key, value in context.invocation_metadata() or ()}  # fmt: skip
            request_id, id_headers, id_error = request_ids.resolve(metadata)
            await context.send_initial_metadata(
                tuple((name.decode("latin-1"), value.decode("latin-1")) for name, value in id_headers)
            )
            status, message = 200, ""
            try:
                if id_error is not None:
                    raise _Abort(431, id_error)
                denied = self.auth.check(auth_path, metadata.get(b"authorization"))
                if denied is not None:
                    raise _Abort(401, denied[0])
                return await handler(request, context, request_id)
            except _Abort as exc:
                status, message = exc.status, str(exc)
            except ScoringError as exc:
                status, message = exc.status_code, str(exc)
                if status >= 500 and request_id not in message:
                    message = f"{message} (request id {request_id})"
            except Exception:  # a bug of ours, not the model's (those are ScoringErrors): still one answer
                logger.exception("gRPC %s failed for request %s", method, request_id)
                status, message = 500, f"internal error; request id {request_id}"
            finally:
                seconds = time.perf_counter() - started
                self.metrics.observe_request(route, "GRPC", status, seconds)
                if self.access_log is not None and not (probe and self.access_log.quiet_routes):
                    self.access_log.record(_peer(context.peer()), "GRPC", route, status, seconds, request_id)
            await context.abort(grpc_code(status), message)

        return rpc


def _peer(peer: str | None) -> tuple[str, int] | None:
    """grpc's ``ipv4:127.0.0.1:5000`` / ``ipv6:[::1]:5000`` as ASGI's ``(host, port)``."""
    if not peer or ":" not in peer:
        return None
    address = peer.split(":", 1)[1]
    host, _, port = address.rpartition(":")
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        return None

