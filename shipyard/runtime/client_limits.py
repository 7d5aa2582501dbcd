"""What a client may hold of a worker: how long its request head and body may take, how big the head may be.

uvicorn bounds none of it with httptools: a connection that sends nothing, or half a request
head, or a body that stops arriving, is kept open forever, and a head of any size or number of
header fields is buffered. The big servers bound each (nginx ``client_header_timeout``,
``client_body_timeout``, ``large_client_header_buffers``; Node's ``headersTimeout`` and
``maxHeaderSize``; Apache's ``LimitRequestFields``), and so does this subclass of uvicorn's
httptools protocol:

* the head (request line and header fields) must arrive within ``header_timeout_s`` of the
  connection opening or of the request's first byte: else 408 and the connection is closed (a
  connection that has sent nothing is just closed, as uvicorn's keep-alive timeout does);
* a body may pause at most ``body_idle_timeout_s`` between two reads: else 408 (if no answer has
  started) and the connection is closed; the time the server itself stops reading (flow control,
  pipelining) does not count;
* more than ``max_header_count`` header fields, or a head over ``max_header_bytes``: 431 and the
  connection is closed, before the request reaches the application.

Each refusal is one warning line in the log. Per request this costs a few counts and
comparisons; a timer per connection compares them between its ticks (a timeout is noticed up to
a quarter of it late).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from shipyard.scoring import json_codec

logger = logging.getLogger(__name__)

TICKS = 4
"""Timer ticks per timeout: a timeout is noticed up to a quarter of it late."""
LINGER_S = 2.0
"""After a refusal, how long the server keeps reading (and dropping) what the client still sends."""  # where the connection is: between requests, reading a head, reading a body


@dataclass(frozen=True)
class ClientLimits:
    """The limits, from :class:`~shipyard.runtime.settings.RuntimeSettings`."""

    header_timeout_s: float
    body_idle_timeout_s: float
    max_header_count: int
    max_header_bytes: int


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a request that gets ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def guarded(protocol: type[asyncio.Protocol], limits: ClientLimits) -> type[asyncio.Protocol]:
    """*protocol* (uvicorn's httptools protocol or a subclass) enforcing *limits*; unchanged without httptools."""
    try:
        import httptools
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - platforms without httptools (uvicorn uses h11)
        logger.warning("httptools is not installed: header-read and body-idle timeouts and header limits are off")
        return protocol
    if not issubclass(protocol, HttpToolsProtocol):  # pragma: no cover
        logger.warning("%s is not uvicorn's httptools protocol: client limits are off", protocol.__name__)
        return protocol

    base_headers_complete = protocol.on_headers_complete
    tick = min(limits.header_timeout_s, limits.body_idle_timeout_s) / TICKS

    class GuardedHTTPProtocol(protocol):  # type: ignore[misc, valid-type]
        """uvicorn's protocol with the limits above.

        Per request only two methods run (``data_received``, which uvicorn's class has too, and
        ``on_headers_complete``), counting and comparing, without reading the clock: a timer per
        connection ticks :data:`TICKS` times per timeout and compares the counts between ticks.
        """

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._in_head = True  # a connection must send its first head in time too
            self._head_bytes = self._reads = self._heads = 0
            self._lingering = False
            self._seen = (-1, -1)  # (heads, reads) at the last tick
            self._still = 0.0  # seconds the connection has made no progress, as seen by the ticks
            self._timer: asyncio.TimerHandle | None = self.loop.call_later(tick, self._tick)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            # uvicorn's own data_received, except that a refusal from a callback gets its status.
            if self._lingering:  # refused: read and drop what the client still sends, until it stops
                return
            self._unset_keepalive_if_required()
            self._reads += 1
            cycle = self.cycle
            if cycle is None or not cycle.more_body or cycle.response_complete:  # not inside a body: a head
                if not self._in_head:
                    self._in_head, self._head_bytes = True, 0
                self._head_bytes += len(data)
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserCallbackError as exc:
                if isinstance(exc.__context__, _Refused):
                    self._refuse(exc.__context__.status, str(exc.__context__))
                    return
                self._invalid()
                return
            except httptools.HttpParserError:
                self._invalid()
                return
            except httptools.HttpParserUpgrade:
                if self._should_upgrade():
                    self.handle_websocket_upgrade()
                else:
                    self._unsupported_upgrade_warning()
                return
            if self._in_head and self._head_bytes > limits.max_header_bytes:
                self._refuse(431, _too_large(limits.max_header_bytes))  # a head that has not ended yet

        def _invalid(self) -> None:
            message = "Invalid HTTP request received."
            self.logger.warning(message)
            self.send_400_response(message)

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._heads += 1
            if len(self.headers) > limits.max_header_count:
                raise _Refused(431, f"the request has more than {limits.max_header_count} header fields, the "
                                    "server's limit (SHIPYARD_MAX_HEADER_COUNT)")
            # The bytes counted may include the start of the body; count exactly only when it matters.
            if self._head_bytes > limits.max_header_bytes and len(self.url) + sum(
                    len(name) + len(value) + 4 for name, value in self.headers) > limits.max_header_bytes:
                raise _Refused(431, _too_large(limits.max_header_bytes))
            base_headers_complete(self)

        def _tick(self) -> None:
            """Refuse a head or a body that has made no progress for its timeout; else tick again."""
            self._timer = None
            if self.transport.is_closing():
                return
            cycle = self.cycle
            if self._in_head:  # progress: a head completing; bytes trickling in do not count
                waiting, progress, timeout = "head", self._heads, limits.header_timeout_s
            elif cycle is not None and cycle.more_body and not cycle.response_complete and not cycle.disconnected \
                    and not self.flow.read_paused:  # progress: any read (paused reading is the server's doing)
                waiting, progress, timeout = "body", self._reads, limits.body_idle_timeout_s
            else:  # between requests, or the application is answering: nothing to time here
                waiting, progress, timeout = "", 0, 0.0
            seen = (waiting, progress)
            self._still = self._still + tick if seen == self._seen else 0.0
            self._seen = seen
            if waiting and self._still >= timeout - tick / 2:
                if waiting == "head" and not self._reads:  # nothing sent at all: close quietly, like a keep-alive
                    self.transport.close()
                elif waiting == "head":
                    self._refuse(408, f"the request head did not arrive within {limits.header_timeout_s:g} s "
                                      "(SHIPYARD_HEADER_TIMEOUT_S)")
                else:
                    self._refuse(408, f"the request body stopped arriving for {limits.body_idle_timeout_s:g} s "
                                      "(SHIPYARD_BODY_IDLE_TIMEOUT_S)")
                return
            self._timer = self.loop.call_later(tick, self._tick)

        def _refuse(self, status: int, message: str) -> None:
            """Answer *status* (unless an answer has begun) and close the connection."""
            client = "%s:%d" % self.client if self.client else "a client"
            logger.warning("Closing the connection from %s: %s (HTTP %d)", client, message, status)
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True  # the application, if it runs, sees a disconnect
                cycle.message_event.set()
            if cycle is None or cycle.response_complete or not cycle.response_started:
                self.transport.write(_response(status, message))
            if not self.transport.can_write_eof():
                self.transport.close()
                return
            # Closing a socket with unread data resets the connection, and the client may lose the
            # answer: send it and EOF, drop what still arrives, and close when the client does (or soon).
            self.transport.write_eof()
            self._lingering = True
            self.loop.call_later(LINGER_S, self.transport.close)

    GuardedHTTPProtocol.__name__ = GuardedHTTPProtocol.__qualname__ = f"Guarded{protocol.__name__}"
    return GuardedHTTPProtocol


def _too_large(limit: int) -> str:
    return (f"the request line and header fields are larger than {limit} bytes, the server's limit "
            "(SHIPYARD_MAX_HEADER_BYTES)")


def _response(status: int, message: str) -> bytes:
    """A complete ``Connection: close`` answer with the runtime's JSON error body."""
    body: Any = json_codec.dumps({"error": message, "message": message})
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("latin-1") + body
