"""Request ids: UUID-4-shaped, unique, and the headers that carry them back as azmlinfsrv sends them."""

from __future__ import annotations

import uuid

from shipyard.runtime import request_ids
from shipyard import __version__
from shipyard.runtime.request_ids import resolve, server_version_headers

VERSION = (b"x-ms-server-version", f"shipyard/{__version__}".encode())  # on by default, as in azmlinfsrv


def test_new_ids_are_distinct_version_4_uuids() -> None:
    ids = [request_ids.new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:: 997]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_the_counter_keeps_twelve_digits_when_it_wraps() -> None:
    generator = request_ids._IdGenerator()
    generator._next = iter([0xABC, 0xFFFFFFFFFFFF, 0x1000000000005]).__next__  # type: ignore[method-assign]
    tails = [generator.next_id().rsplit("-", 1)[1] for _ in range(3)]
    assert tails == ["000000000abc", "ffffffffffff", "000000000005"]


def test_without_client_ids_both_headers_carry_a_new_id() -> None:
    request_id, headers, error = resolve({b"content-type": b"application/json"})
    assert error is None and uuid.UUID(request_id).version == 4
    assert headers == [(b"x-request-id", request_id.encode()), (b"x-ms-request-id", request_id.encode()), VERSION]


def test_client_ids_are_echoed_and_an_overlong_one_is_an_error() -> None:
    request_id, headers, error = resolve({b"x-request-id": b"abc", b"x-ms-client-request-id": b"client-1"})
    assert (request_id, error) == ("abc", None)
    assert headers == [(b"x-request-id", b"abc"), (b"x-ms-request-id", b"client-1"),
                       (b"x-ms-client-request-id", b"client-1"), VERSION]  # fmt: skip
    _, _, error = resolve({b"x-request-id": b"x" * 101})
    assert error == "x-request-id must not exceed 100 characters"


def test_server_version_header_follows_azmlinfsrvs_switch() -> None:
    assert server_version_headers({}) == [VERSION]
    assert server_version_headers({"SERVER_VERSION_LOG_RESPONSE_ENABLED": "True"}) == [VERSION]
    assert server_version_headers({"SERVER_VERSION_LOG_RESPONSE_ENABLED": "false"}) == []
    # switched off, a value the operator set is still sent, as azmlinfsrv does
    assert server_version_headers({"SERVER_VERSION_LOG_RESPONSE_ENABLED": "no",
                                   "HTTP_X_MS_SERVER_VERSION": "mine/2"}) == [(b"x-ms-server-version", b"mine/2")]
