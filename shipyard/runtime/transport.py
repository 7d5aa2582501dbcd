"""One ``send()`` per response instead of two: uvicorn's HTTP protocol over a coalescing transport.

uvicorn writes a response's status line and headers to the socket as soon as the app sends
``http.response.start``, and the body separately on ``http.response.body``: two system calls and,
with ``TCP_NODELAY``, two TCP segments per response. On a small scoring answer the kernel's share
of those writes is the largest single cost of a request (``bench/RESULTS.md``).

The transport below holds a response's header block back and sends it together with the next
write, which for a complete answer is its body, written by uvicorn in the same step: the same
bytes, in the same order, in one segment. Nothing else is held: an interim ``100 Continue`` or
``101 Switching Protocols``, a body chunk, or uvicorn's own error answers go straight out. A
header block still held when the response completes without a body write (``HEAD``), or when the
connection closes, is written then. A streamed answer's headers leave with its first chunk, as
WSGI servers (gunicorn under azmlinfsrv) send them.

Holding costs two byte-string checks per write, where gathering every write of a loop step
behind a ``call_soon`` callback cost a scheduled callback per response (about 10,000
instructions, ``bench/runtime/instructions.py``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

_STATUS_PREFIX = b"HTTP/1.1 "  # uvicorn answers every request with HTTP/1.1 status lines
_END_OF_HEADERS = b"\r\n\r\n"
_INTERIM = ord("1")  # 1xx: must reach the client before it sends (or switches) anything
_JOIN_LIMIT = 64 * 1024  # larger bodies go out as two buffers of one writev, not copied into one


class CoalescingTransport(asyncio.Transport):
    """Wraps an ``asyncio.Transport``: a final status line and headers wait for the next write.

    Every transport method is delegated explicitly: a ``__getattr__`` fallback would route every
    attribute lookup on the object through a slower path, on each of uvicorn's calls.
    """

    __slots__ = ("_held", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__()
        self._transport = transport
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if len(data) <= _JOIN_LIMIT:
                self._transport.write(held + data)
            else:
                self._transport.writelines((held, data))
        elif (data.__class__ is bytes and data.endswith(_END_OF_HEADERS) and data.startswith(_STATUS_PREFIX)
              and data[9] != _INTERIM):
            self._held = data
        else:
            self._transport.write(data)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Write a held header block now (the response ended without a body write, or before closing)."""
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        held = self._held
        return self._transport.get_write_buffer_size() + (len(held) if held is not None else 0)

    # The rest of the transport interface, as the real transport does it.
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()


class CoalescingHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's own HTTP protocol (httptools when installed, else h11) on a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport))  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        self.transport.flush()  # a header block with no body write after it (HEAD, or an app's own choice)
        AutoHTTPProtocol.on_response_complete(self)  # what super() finds, without building a super object
