"""Undecorated ``run(raw_data)`` scripts: the body (or GET query) reaches run() as azmlinfsrv passes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.azmlinfsrv import ServerPair, exchange

SCRIPTS = Path(__file__).resolve().parent / "scripts"


@pytest.fixture(scope="module")
def echo(differential_servers) -> ServerPair:  # type: ignore[no-untyped-def]
    return differential_servers(SCRIPTS / "echo_score.py")


@pytest.mark.parametrize(
    "request_kwargs",
    [
        pytest.param({"content": b'{"data": [[1, 2, 3]]}', "headers": {"Content-Type": "application/json"}}, id="json"),
        pytest.param({"content": "plain text \u00e9".encode(), "headers": {"Content-Type": "text/plain"}}, id="text"),
        pytest.param({"content": b""}, id="empty-body"),
        pytest.param({"content": b'{"a": 1}', "headers": {"x-request-id": "my-id-1"}}, id="client-request-id"),
        pytest.param({"content": b'{"a": 1}', "headers": {"x-ms-client-request-id": "client-2"}},
                     id="client-request-id-ms"),
    ],
)
def test_post_score(echo: ServerPair, request_kwargs: dict) -> None:
    exchange(echo, "POST", "/score", **request_kwargs).assert_same()


def test_post_score_with_a_body_that_is_not_utf8(echo: ServerPair) -> None:
    exchange(echo, "POST", "/score", content=b"\xff\xfe\x00").assert_same()


@pytest.mark.parametrize("query", ["a=1&b=x", "a=1&a=2&c=null", "list=[1,2]", ""])
def test_get_score_with_query_arguments(echo: ServerPair, query: str) -> None:
    exchange(echo, "GET", "/score?" + query).assert_same()


def test_server_version_header_is_on_by_default(echo: ServerPair) -> None:
    answer = exchange(echo, "POST", "/score", content=b"{}").assert_same()
    assert answer.shipyard.headers["x-ms-server-version"].startswith("shipyard/")


def test_server_version_header_switched_off(differential_servers) -> None:  # type: ignore[no-untyped-def]
    pair = differential_servers(SCRIPTS / "echo_score.py", env={"SERVER_VERSION_LOG_RESPONSE_ENABLED": "false"})
    answer = exchange(pair, "POST", "/score", content=b"{}").assert_same()
    assert "x-ms-server-version" not in answer.shipyard.headers


@pytest.mark.parametrize("request_kwargs", [
    {"content": b"{}", "headers": {"Content-Type": "application/json", "X-Custom": "1", "x-lower": "2"}},
    {"content": b"x", "headers": [("X-Multi", "a"), ("X-Multi", "b")]},
    {"content": b"{}", "headers": {"x-ms-client-request-id": "c-1", "Authorization": "Bearer t"}},
], ids=["custom-headers", "repeated-header", "id-and-auth-headers"])
def test_request_headers_parameter(differential_servers, request_kwargs: dict) -> None:  # type: ignore[no-untyped-def]
    pair = differential_servers(SCRIPTS / "request_headers_score.py")
    exchange(pair, "POST", "/score", **request_kwargs).assert_same()


def test_request_headers_parameter_on_get(differential_servers) -> None:  # type: ignore[no-untyped-def]
    pair = differential_servers(SCRIPTS / "request_headers_score.py")
    exchange(pair, "GET", "/score?a=1", headers={"X-Custom": "1"}).assert_same()
