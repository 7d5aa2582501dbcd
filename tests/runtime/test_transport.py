"""The coalescing transport: a response's header block and body reach the peer as one write."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from shipyard.runtime.transport import CoalescingTransport


def _runners() -> list[Callable[[Coroutine[Any, Any, None]], None]]:
    """asyncio's own loop, and uvloop (what the runtime uses) when installed."""
    try:
        import uvloop
    except ImportError:
        return [asyncio.run]
    return [asyncio.run, uvloop.run]


async def _connected_pair() -> tuple[CoalescingTransport, socket.socket]:
    ours, peer = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
    peer.setblocking(False)
    return CoalescingTransport(transport), peer  # type: ignore[arg-type]


async def _received(peer: socket.socket) -> bytes:
    """What has reached the peer, once the loop has had a chance to write."""
    await asyncio.sleep(0.01)
    try:
        return peer.recv(65536)
    except BlockingIOError:
        return b""


HEADERS = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"


@pytest.mark.parametrize("run", _runners(), ids=lambda run: run.__module__)
def test_a_header_block_waits_for_the_body_and_leaves_with_it(run: Callable[..., None]) -> None:
    async def scenario() -> None:
        transport, peer = await _connected_pair()
        transport.write(HEADERS)
        assert await _received(peer) == b""  # held: nothing on the wire...
        assert transport.get_write_buffer_size() == len(HEADERS)
        transport.write(bytearray(b"hello"))
        assert await _received(peer) == HEADERS + b"hello"  # ...then both in one piece
        transport.write(b"more")  # nothing held now: straight out
        assert await _received(peer) == b"more"
        peer.close()
        transport.abort()

    run(scenario())


@pytest.mark.parametrize("run", _runners(), ids=lambda run: run.__module__)
def test_interim_answers_and_body_chunks_are_never_held(run: Callable[..., None]) -> None:
    async def scenario() -> None:
        transport, peer = await _connected_pair()
        transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # the client waits for it before sending
        assert await _received(peer) == b"HTTP/1.1 100 Continue\r\n\r\n"
        transport.write(b"5\r\nhello\r\n")
        assert await _received(peer) == b"5\r\nhello\r\n"
        transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 3\r\n\r\nbad")  # a whole answer
        assert await _received(peer) == b"HTTP/1.1 400 Bad Request\r\ncontent-length: 3\r\n\r\nbad"
        peer.close()
        transport.abort()

    run(scenario())


@pytest.mark.parametrize("run", _runners(), ids=lambda run: run.__module__)
def test_a_held_header_block_is_written_on_flush_and_before_closing(run: Callable[..., None]) -> None:
    async def scenario() -> None:
        transport, peer = await _connected_pair()
        transport.write(HEADERS)
        transport.flush()  # what the protocol does when a response completes with no body write (HEAD)
        assert await _received(peer) == HEADERS
        transport.write(HEADERS)
        transport.close()
        assert await _received(peer) == HEADERS
        assert transport.is_closing()
        peer.close()

    run(scenario())


@pytest.mark.parametrize("run", _runners(), ids=lambda run: run.__module__)
def test_a_large_body_goes_out_after_its_header_block_without_a_copy(run: Callable[..., None]) -> None:
    async def scenario() -> None:
        transport, peer = await _connected_pair()
        body = memoryview(b"x" * 200_000)
        transport.write(HEADERS)
        transport.write(body)
        received = b""
        while len(received) < len(HEADERS) + len(body):
            chunk = await _received(peer)
            assert chunk, "the body stopped arriving"
            received += chunk
        assert received == HEADERS + bytes(body)
        peer.close()
        transport.abort()

    run(scenario())


@pytest.mark.parametrize("run", _runners(), ids=lambda run: run.__module__)
def test_everything_else_is_the_real_transport(run: Callable[..., None]) -> None:
    async def scenario() -> None:
        transport, peer = await _connected_pair()
        assert transport.get_extra_info("socket") is not None
        assert transport.get_write_buffer_size() == 0
        transport.abort()
        peer.close()

    run(scenario())
