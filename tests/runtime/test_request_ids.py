"""Request ids: UUID-4-shaped, unique, and the headers that carry them back as azmlinfsrv sends them."""

from __future__ import annotations

import uuid

from shipyard.runtime import request_ids
from shipyard.runtime.request_ids import resolve


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
    assert headers == [(b"x-request-id", request_id.encode()), (b"x-ms-request-id", request_id.encode())]


def test_client_ids_are_echoed_and_an_overlong_one_is_an_error() -> None:
    request_id, headers, error = resolve({b"x-request-id": b"abc", b"x-ms-client-request-id": b"client-1"})
    assert (request_id, error) == ("abc", None)
    assert headers == [(b"x-request-id", b"abc"), (b"x-ms-request-id", b"client-1"),
                       (b"x-ms-client-request-id", b"client-1")]  # fmt: skip
    _, _, error = resolve({b"x-request-id": b"x" * 101})
    assert error == "x-request-id must not exceed 100 characters"
