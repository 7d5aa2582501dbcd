"""The coalescing transport: what one event-loop step writes reaches the peer as one write."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from shipyard.runtime.fastpath.transport import CoalescingTransport


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
    return CoalescingTransport(transport, loop), peer  # type: ignore[arg-type]


def _received(peer: socket.socket) -> bytes:
    try:
        return peer.recv(65536)
    except BlockingIOError:
        return b""


@pytest.mark.parametrize("run", _runners(), ids=lambda run: run.__module__)
def test_writes_of_one_step_arrive_together_and_in_order(run: Callable[..., None]) -> None:
    async def scenario() -> None:
        transport, peer = await _connected_pair()
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
        transport.write(bytearray(b"hello"))  # a mutable buffer is copied at once
        assert _received(peer) == b""  # nothing on the wire during the step...
        await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        # ...then everything in one piece (a single recv sees both writes)
        assert _received(peer) == b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"
        transport.write(b"last words")
        transport.close()  # pending bytes are written before closing
        await asyncio.sleep(0.01)
        assert _received(peer) == b"last words"
        assert transport.is_closing()
        peer.close()

    run(scenario())


@pytest.mark.parametrize("run", _runners(), ids=lambda run: run.__module__)
def test_a_large_body_arrives_whole_after_its_headers(run: Callable[..., None]) -> None:
    async def scenario() -> None:
        transport, peer = await _connected_pair()
        headers, body = b"HTTP/1.1 200 OK\r\ncontent-length: 200000\r\n\r\n", memoryview(b"x" * 200_000)
        transport.write(headers)
        transport.write(body)
        received = b""
        for _ in range(200):
            await asyncio.sleep(0.005)
            received += _received(peer)
            if len(received) == len(headers) + len(body):
                break
        assert received == headers + bytes(body)
        transport.abort()
        peer.close()

    run(scenario())


@pytest.mark.parametrize("run", _runners(), ids=lambda run: run.__module__)
def test_everything_else_is_the_real_transport(run: Callable[..., None]) -> None:
    async def scenario() -> None:
        transport, peer = await _connected_pair()
        assert transport.get_extra_info("socket") is not None
        assert transport.get_protocol() is not None and transport.is_reading() and transport.can_write_eof()
        assert transport.get_write_buffer_size() == 0
        transport.write(b"12345")
        assert transport.get_write_buffer_size() == 5
        transport.abort()
        peer.close()

    run(scenario())


def test_with_fast_paths_off_a_real_server_answers_the_same_bytes(tmp_path) -> None:
    """SHIPYARD_HTTP_FAST_PATHS=false is plain uvicorn: same answers, byte for byte (the date aside)."""
    import re

    from tests.fixtures.servers import SCRIPTS, start_server

    model = tmp_path / "model"
    model.mkdir()
    request = (b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"x-ms-request-id: fixed\r\nContent-Length: 7\r\n\r\n\"hello\"")
    answers = []
    for fast in ("true", "false"):
        server = start_server(tmp_path, model_dir=model, entry_script=SCRIPTS / "str_return_score.py",
                              env={"SHIPYARD_HTTP_FAST_PATHS": fast, "SHIPYARD_ACCESS_LOG": "false"})
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
                client.sendall(request)
                raw = b""
                while b"\r\n\r\n" not in raw or len(raw.split(b"\r\n\r\n", 1)[1]) < int(
                        re.search(rb"content-length: (\d+)", raw).group(1)):
                    raw += client.recv(65536)
        finally:
            server.stop()
        answers.append(re.sub(rb"(date|x-request-id|x-ms-run-fn-exec-ms): [^\r]+", rb"\1: -", raw))  # vary per request
    assert answers[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert answers[0] == answers[1]
