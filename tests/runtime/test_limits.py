"""Body-size and time limits: 413 before a large body is held, 504 when the model runs too long."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.fixtures.servers import RunningServer

LIMIT = 1000


@pytest.fixture(scope="module")
def slow(module_runtime) -> RunningServer:  # type: ignore[no-untyped-def]
    return module_runtime("runtime_slow_score.py", env={
        "SHIPYARD_MAX_BODY_BYTES": str(LIMIT), "SHIPYARD_REQUEST_TIMEOUT_S": "0.5",
    })


def test_declared_content_length_over_the_limit_is_413(slow: RunningServer) -> None:
    response = httpx.post(slow.url + "/score", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert f"limit of {LIMIT} bytes" in response.json()["message"]
    assert "SHIPYARD_MAX_BODY_BYTES" in response.json()["message"]


def test_chunked_body_over_the_limit_is_413(slow: RunningServer) -> None:
    def chunks():  # no Content-Length: the server must count
        for _ in range(5):
            yield b"x" * 400

    response = httpx.post(slow.url + "/score", content=chunks())
    assert response.status_code == 413
    v2 = httpx.post(slow.url + "/v2/models/model/infer", content=chunks())
    assert v2.status_code == 413 and "limit of 1000 bytes" in v2.json()["error"]


def test_a_lying_content_length_cannot_get_past_the_limit(slow: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", slow.port)) as sock:
        body = b'{"sleep": 0}' + b" " * 2000
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413")


def test_slow_run_is_504_and_the_server_still_answers(slow: RunningServer) -> None:
    start = time.monotonic()
    response = httpx.post(slow.url + "/score", json={"sleep": 2}, timeout=10)
    assert response.status_code == 504
    assert time.monotonic() - start < 1.5
    assert "within the 0.5 s request timeout" in response.json()["message"]
    assert httpx.get(slow.url + "/v2/health/live").status_code == 200  # the event loop is free
    time.sleep(1.6)  # one scoring thread: the timed-out call finishes first
    assert httpx.post(slow.url + "/score", json={"sleep": 0}).json()["slept"] == 0
