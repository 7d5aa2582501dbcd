"""Start and stop the gRPC server inside a runtime worker, beside uvicorn, on the same event loop.

Every worker serves gRPC on the same port (``SO_REUSEPORT``: the kernel spreads connections over
the workers, as the shared socket does for HTTP). ``shipyard serve`` checks first, in the parent,
that no other program holds the port (a trial :func:`~shipyard.runtime.server.bind_socket`), so a
taken port fails at start with a clear message instead of quietly sharing it.

Limits follow the HTTP side: a request message larger than ``max_body_bytes`` is refused with
``RESOURCE_EXHAUSTED`` by grpc itself.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
from grpc import aio

from shipyard.errors import ServerStartError
from shipyard.runtime.dataplane import DataPlane
from shipyard.runtime.oip_grpc import messages
from shipyard.runtime.oip_grpc.service import InferenceService

logger = logging.getLogger(__name__)


def _health(dataplane: DataPlane) -> grpc.GenericRpcHandler:
    """``grpc.health.v1.Health/Check``: SERVING once the model is ready (the server as a whole, or
    the inference service by name), as Kubernetes' gRPC probes expect."""
    known = {"", messages.SERVICE}

    async def check(request: Any, context: aio.ServicerContext) -> Any:
        if request.service not in known:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return messages.HealthCheckResponse(status=1 if dataplane.ready else 2)  # SERVING / NOT_SERVING

    handler = grpc.unary_unary_rpc_method_handler(
        check,
        request_deserializer=messages.HealthCheckRequest.FromString,
        response_serializer=messages.HealthCheckResponse.SerializeToString,
    )
    return grpc.method_handlers_generic_handler(messages.HEALTH_SERVICE, {"Check": handler})


async def start_grpc_server(
    service: InferenceService, *, host: str, port: int, max_message_bytes: int, shared_port: bool
) -> aio.Server:
    """Start serving *service* (and the standard health service) on *host*:*port*.

    Args:
        shared_port: several workers bind the port (``SO_REUSEPORT``); off for one worker, so a
            taken port is an error rather than shared.

    Raises:
        ServerStartError: the port cannot be bound.
    """
    server = aio.server(
        options=[
            ("grpc.so_reuseport", 1 if shared_port else 0),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", -1),
        ]
    )
    server.add_generic_rpc_handlers((service.generic_handler(), _health(service.dataplane)))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        bound, error = 0, exc
    else:
        error = None
    if not bound:
        raise ServerStartError(
            f"cannot serve gRPC on {address}: the port is taken or the address is not local ({error or 'bind failed'}); "
            "choose another with --grpc-port / SHIPYARD_GRPC_PORT"
        )
    await server.start()
    logger.info("gRPC (Open Inference Protocol) on %s", address)
    return server
