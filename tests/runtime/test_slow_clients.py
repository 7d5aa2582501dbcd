"""Slow and oversized clients over raw sockets: a half-sent request does not keep a connection forever.

The server runs with short timeouts (``SHIPYARD_HEADER_TIMEOUT_S``, ``SHIPYARD_BODY_IDLE_TIMEOUT_S``)
so the tests wait about a second; the defaults are 30 s. Each test waits for the server to act
(answer or close) rather than timing it.
"""

from __future__ import annotations

import json
import select
import socket
import time

import httpx
import pytest

from tests.fixtures.servers import RunningServer

TIMEOUTS = {"SHIPYARD_HEADER_TIMEOUT_S": "1", "SHIPYARD_BODY_IDLE_TIMEOUT_S": "1"}


@pytest.fixture(scope="module")
def server(module_runtime) -> RunningServer:  # type: ignore[no-untyped-def]
    return module_runtime("echo_score.py", env={**TIMEOUTS, "SHIPYARD_MAX_HEADER_COUNT": "20",
                                                "SHIPYARD_MAX_HEADER_BYTES": "4096"})


def connect(server: RunningServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the socket timeout fails the test)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def status_and_error(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["error"]


def test_a_connection_that_sends_nothing_is_closed(server: RunningServer) -> None:
    with connect(server) as sock:
        assert read_until_closed(sock) == b""


def test_a_half_sent_request_head_gets_408_and_the_connection_is_closed(server: RunningServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: text/pl")
        status, error = status_and_error(read_until_closed(sock))
    assert status == 408
    assert "SHIPYARD_HEADER_TIMEOUT_S" in error


def test_a_head_sent_a_byte_at_a_time_still_has_one_deadline(server: RunningServer) -> None:
    with connect(server) as sock:
        start = time.monotonic()
        answer = b""
        for byte in b"GET /v2/health/live HTTP/1.1\r\nX-Slow: " + b"a" * 1000:
            sock.sendall(bytes([byte]))  # each pause is short; the head as a whole is too slow
            if select.select([sock], [], [], 0.05)[0] or time.monotonic() - start > 10:
                break  # the server answered
        answer = read_until_closed(sock)
    assert status_and_error(answer)[0] == 408


def test_a_body_that_stops_arriving_gets_408_and_the_connection_is_closed(server: RunningServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part of it")
        status, error = status_and_error(read_until_closed(sock))
    assert status == 408
    assert "SHIPYARD_BODY_IDLE_TIMEOUT_S" in error
    assert httpx.post(server.url + "/score", content=b"the server still serves").status_code == 200


def test_a_body_that_keeps_arriving_slowly_is_scored(server: RunningServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nConnection: close\r\n\r\n")
        for part in (b"ab", b"cd", b"ef"):  # each pause is under the idle timeout, the whole is over it
            time.sleep(0.6)
            sock.sendall(part)
        answer = read_until_closed(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer
    assert json.loads(body)["data"] == "abcdef"


def test_too_many_header_fields_get_431(server: RunningServer) -> None:
    headers = "".join(f"X-Field-{index}: {index}\r\n" for index in range(21))
    with connect(server) as sock:
        sock.sendall(f"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        status, error = status_and_error(read_until_closed(sock))
    assert status == 431
    assert "more than 20 header fields" in error and "SHIPYARD_MAX_HEADER_COUNT" in error


@pytest.mark.parametrize("head", [
    b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n",
    b"GET /v2/health/live?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Endless: " + b"a" * 200_000,  # never completes
], ids=["one-big-header", "long-request-line", "a-head-that-never-ends"])
def test_a_head_over_the_size_limit_gets_431(server: RunningServer, head: bytes) -> None:
    with connect(server) as sock:
        try:
            sock.sendall(head)
        except OSError:  # the server may close before taking it all
            pass
        status, error = status_and_error(read_until_closed(sock))
    assert status == 431
    assert "SHIPYARD_MAX_HEADER_BYTES" in error


def test_heads_within_the_limits_are_served_and_refusals_are_one_log_line(server: RunningServer) -> None:
    headers = {f"x-field-{index}": "v" * 100 for index in range(15)}
    assert httpx.get(server.url + "/v2/health/live", headers=headers).status_code == 200
    log = server.log()
    assert "Traceback" not in log
    assert "Closing the connection from 127.0.0.1" in log


def test_the_limits_hold_with_uvicorns_own_http_code_too(module_runtime) -> None:  # type: ignore[no-untyped-def]
    server = module_runtime("echo_score.py", env={**TIMEOUTS, "SHIPYARD_HTTP_FAST_PATHS": "false",
                                                  "SHIPYARD_MAX_HEADER_COUNT": "5"})
    with connect(server) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(6)) + b"\r\n")
        assert status_and_error(read_until_closed(sock))[0] == 431
    with connect(server) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n")
        assert status_and_error(read_until_closed(sock))[0] == 408
    assert httpx.get(server.url + "/v2/health/live").status_code == 200
