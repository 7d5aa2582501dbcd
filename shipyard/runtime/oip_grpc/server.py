"""Start and stop the gRPC server inside a runtime worker, beside uvicorn, on the same event loop.

Every worker serves gRPC on the same port (``SO_REUSEPORT``: the kernel spreads connections over
the workers, as the shared socket does for HTTP). ``shipyard serve`` checks first, in the parent,
that no other program holds the port (a trial :func:`~shipyard.runtime.server.bind_socket`), so a
taken port fails at start with a clear message instead of quietly sharing it.

Limits follow the HTTP side: a request message larger than ``max_body_bytes`` is refused with
``RESOURCE_EXHAUSTED``, metadata larger than ``max_header_bytes`` too.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from shipyard.errors import ServerStartError
from shipyard.runtime.oip_grpc.http2 import GrpcConnection, Limits
from shipyard.runtime.oip_grpc.service import InferenceService
from shipyard.runtime.server import BACKLOG

logger = logging.getLogger(__name__)


class GrpcServer:
    """The listening socket and its connections; :meth:`stop` ends them gracefully."""

    def __init__(self, server: asyncio.Server, connections: set[GrpcConnection]) -> None:
        self.server = server
        self.connections = connections

    async def stop(self, grace_s: float) -> None:
        """Stop listening, send GOAWAY on every connection, and give the calls in flight up to
        *grace_s* seconds to be answered before the connections close."""
        self.server.close()
        for connection in list(self.connections):
            connection.goaway()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while self.connections and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.abort()
        await self.server.wait_closed()


async def start_grpc_server(
    service: InferenceService, *, host: str, port: int, max_message_bytes: int, max_header_bytes: int,
    shared_port: bool, preface_timeout_s: float = 10.0,
) -> GrpcServer:
    """Start serving *service* (and the standard health service) on *host*:*port*.

    Args:
        shared_port: several workers bind the port (``SO_REUSEPORT``); off for one worker, so a
            taken port is an error rather than shared.
        preface_timeout_s: a connection that has not sent HTTP/2's preface by then is closed.

    Raises:
        ServerStartError: the port cannot be bound.
    """
    connections: set[GrpcConnection] = set()
    limits = Limits(max_message_bytes, max_header_bytes, preface_timeout_s)
    loop = asyncio.get_running_loop()
    try:
        server = await loop.create_server(
            lambda: GrpcConnection(service, limits, connections),
            host=host, port=port, reuse_port=shared_port, backlog=BACKLOG,
            family=socket.AF_INET6 if ":" in host else socket.AF_INET,
        )  # fmt: skip
    except OSError as exc:
        raise ServerStartError(
            f"cannot listen on {host}:{port}: {exc.strerror}; another process may be using the port: "
            "stop it or choose another with --grpc-port / SHIPYARD_GRPC_PORT"
        ) from exc
    for sock in server.sockets:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    logger.info("gRPC (Open Inference Protocol) on %s", address)
    return GrpcServer(server, connections)
