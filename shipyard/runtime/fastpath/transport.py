"""One ``send()`` per response instead of two: uvicorn's HTTP protocol over a coalescing transport.

uvicorn writes a response's status line and headers to the socket as soon as the app sends
``http.response.start``, and the body separately on ``http.response.body``: two system calls and,
with ``TCP_NODELAY``, two TCP segments per response. On a small scoring answer the kernel's share
of those writes is the largest single cost of a request (``bench/RESULTS.md``). The transport
below gathers everything written during one step of the event loop and hands it to the real
transport once, at the end of that step: the same bytes, in the same order, one segment.

Writing at the end of the step, rather than as soon as the body is there, was also measured to
matter: a version that sent the header block with the body at once (fewer instructions, the same
system calls) used about a quarter more CPU per request on the benchmark machine (132 vs 107 µs
of user + system time, ``bench/RESULTS.md``), likely because the system call and the kernel's
TCP work then fall in the middle of the request's Python work rather than after it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol


class CoalescingTransport(asyncio.Transport):
    """Wraps an ``asyncio.Transport``: writes made in one loop step go out as one write.

    Every transport method is delegated explicitly: a ``__getattr__`` fallback would route every
    attribute lookup on the object through a slower path, on each of uvicorn's calls.
    """

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if data.__class__ is not bytes:
            data = bytes(data)  # the caller may reuse its buffer before the flush
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(data)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Write what is pending now (also called before closing)."""
        pending, self._pending = self._pending, None
        if not pending or self._transport.is_closing():
            return
        if len(pending) == 1:
            self._transport.write(pending[0])
        else:
            self._transport.writelines(pending)  # uvloop: one writev; asyncio: one joined write

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending or ()))

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
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
