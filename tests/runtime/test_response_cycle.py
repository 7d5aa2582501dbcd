"""Shipyard's response writing against uvicorn's own: the same bytes, state and errors, answer by answer.

Each case is sent through uvicorn's ``RequestResponseCycle`` and through
:class:`~shipyard.runtime.fastpath.response_cycle.ResponseCycle`; :func:`transcript` records everything
observable (bytes written, connection closed, error raised, cycle state, completion callback).
The usual answers must also take the short way (uvicorn's ``send`` is made to fail for them).
"""

from __future__ import annotations

from typing import Any

import pytest

httptools_impl = pytest.importorskip("uvicorn.protocols.http.httptools_impl")

from shipyard.runtime.fastpath import response_cycle
from shipyard.runtime.fastpath.response_cycle import ResponseCycle, transcript

UVICORN_CYCLE = ResponseCycle.__base__
DATE = [(b"date", b"Fri, 27 Nov 2026 05:34:06 GMT")]
SERVER = [(b"server", b"uvicorn")]
BODY = b'{"result":[0]}'
SCORE_HEADERS = [
    (b"content-type", b"application/json"), (b"content-length", b"14"), (b"x-ms-run-fn-exec-ms", b"0.036"),
    (b"x-ms-run-function-failed", b"False"), (b"x-request-id", b"8e64d8f2-10b3-429f-ad20-0001e1613134"),
    (b"x-ms-request-id", b"8e64d8f2-10b3-429f-ad20-0001e1613134"),
]  # fmt: skip


def start(headers: Any, status: Any = 200) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": headers}


def body(data: bytes = BODY, more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


USUAL = {
    "score answer": ([start(SCORE_HEADERS), body()], {"default_headers": DATE}),
    "connection not kept alive": ([start(SCORE_HEADERS), body()], {"default_headers": DATE, "keep_alive": False}),
    "server header too": ([start(SCORE_HEADERS), body()], {"default_headers": DATE + SERVER}),
    "no default headers": ([start(SCORE_HEADERS), body()], {}),
    "body in three parts": (
        [start(SCORE_HEADERS), body(b'{"res', True), body(b"ult", True), body(b'":[0]}')], {"default_headers": DATE}
    ),
    "tuple of headers": ([start(tuple(SCORE_HEADERS)), body()], {"default_headers": DATE}),
    "error status": ([start([(b"content-length", b"2")], 503), body(b"{}")], {"default_headers": DATE}),
    "empty body": ([start([(b"content-length", b"0")], 204), body(b"")], {"default_headers": DATE}),
    "latin-1 value": ([start([(b"content-length", b"2"), (b"x-name", "café".encode("latin-1"))]), body(b"ok")], {}),
    "tab in a value": ([start([(b"content-length", b"2"), (b"x-list", b"a\tb")]), body(b"ok")], {}),
    "longer body than declared": ([start([(b"content-length", b"1")]), body(b"ok")], {}),
    "shorter body than declared": ([start([(b"content-length", b"3")]), body(b"ok")], {}),
    "content-length not a number": ([start([(b"content-length", b"two")]), body(b"ok")], {}),
}

UNUSUAL = {
    "HEAD request": ([start(SCORE_HEADERS), body()], {"default_headers": DATE, "method": "HEAD"}),
    "no content-length (chunked)": ([start([(b"content-type", b"text/plain")]), body(b"ab", True), body(b"c")], {}),
    "two content-lengths": ([start([(b"content-length", b"2"), (b"content-length", b"3")]), body(b"ok")], {}),
    "transfer-encoding from the app": (
        [start([(b"transfer-encoding", b"chunked")]), body(b"ab", True), body(b"")], {}
    ),
    "connection: close from the app": ([start([(b"content-length", b"2"), (b"connection", b"close")]), body(b"ok")],
                                       {}),
    "upper-case name": ([start([(b"Content-Length", b"2"), (b"X-Name", b"v")]), body(b"ok")], {}),
    "name with a space": ([start([(b"content-length", b"2"), (b"bad name", b"v")]), body(b"ok")], {}),
    "CR LF in a value": ([start([(b"content-length", b"2"), (b"x-name", b"v\r\nx-injected: 1")]), body(b"ok")], {}),
    "NUL in a value": ([start([(b"content-length", b"2"), (b"x-name", b"v\x00")]), body(b"ok")], {}),
    "DEL in a default value": ([start([(b"content-length", b"2")]), body(b"ok")],
                               {"default_headers": [(b"x-bad", b"\x7f")]}),
    "str name": ([start([(b"content-length", b"2"), ("x-name", b"v")]), body(b"ok")], {}),
    "str value": ([start([(b"content-length", b"2"), (b"x-name", "v")]), body(b"ok")], {}),
    "lists, not tuples": ([start([[b"content-length", b"2"], [b"x-name", b"v"]]), body(b"ok")], {}),
    "three-item header": ([start([(b"content-length", b"2", b"x")]), body(b"ok")], {}),
    "headers from a generator": ([start(h for h in [(b"content-length", b"2")]), body(b"ok")], {}),
    "unknown status": ([start([(b"content-length", b"2")], 999), body(b"ok")], {}),
    "no status": ([{"type": "http.response.start", "headers": [(b"content-length", b"2")]}, body(b"ok")], {}),
    "body before start": ([body()], {}),
    "start twice": ([start([(b"content-length", b"2")]), start([(b"content-length", b"2")])], {}),
    "body after the end": ([start([(b"content-length", b"2")]), body(b"ok"), body(b"")], {}),
}


def _forbid_uvicorns_send(monkeypatch: pytest.MonkeyPatch) -> None:
    async def send(self: Any, message: Any) -> None:
        raise AssertionError(f"uvicorn's send was used for {message['type']}")

    monkeypatch.setattr(UVICORN_CYCLE, "send", send)


@pytest.mark.parametrize("case", USUAL, ids=str)
def test_the_usual_answer_takes_the_short_way_to_uvicorns_bytes(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    messages, options = USUAL[case]
    expected = transcript(UVICORN_CYCLE, messages, **options)
    _forbid_uvicorns_send(monkeypatch)
    assert transcript(ResponseCycle, messages, **options) == expected


@pytest.mark.parametrize("case", UNUSUAL, ids=str)
def test_any_other_answer_is_written_exactly_as_uvicorn_writes_it(case: str) -> None:
    messages, options = UNUSUAL[case]
    if case == "headers from a generator":  # read once: each side needs its own
        first = transcript(UVICORN_CYCLE, [start(h for h in [(b"content-length", b"2")]), body(b"ok")])
        assert transcript(ResponseCycle, messages, **options) == first
        return
    assert transcript(ResponseCycle, messages, **options) == transcript(UVICORN_CYCLE, messages, **options)


def test_the_score_answer_is_written_as_expected() -> None:
    messages, options = USUAL["score answer"]
    written, closed, error, _, completed = transcript(ResponseCycle, messages, **options)
    assert written == (
        b"HTTP/1.1 200 OK\r\ndate: Fri, 27 Nov 2026 05:34:06 GMT\r\ncontent-type: application/json\r\n"
        b"content-length: 14\r\nx-ms-run-fn-exec-ms: 0.036\r\nx-ms-run-function-failed: False\r\n"
        b"x-request-id: 8e64d8f2-10b3-429f-ad20-0001e1613134\r\nx-ms-request-id: 8e64d8f2-10b3-429f-ad20-0001e1613134"
        b"\r\n\r\n" + BODY
    )
    assert (closed, error, completed) == (False, None, 1)


def test_every_byte_value_gets_uvicorns_verdict() -> None:
    for byte in range(256):
        for value in (bytes([byte]), b"ab" + bytes([byte]) + b"cd"):
            messages = [start([(b"content-length", b"2"), (b"x-name", value)]), body(b"ok")]
            assert transcript(ResponseCycle, messages) == transcript(UVICORN_CYCLE, messages), (byte, value)


def test_names_are_remembered_only_when_valid_and_up_to_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(response_cycle, "_valid_names", set())
    monkeypatch.setattr(response_cycle, "MAX_REMEMBERED", 3)
    transcript(ResponseCycle, [start([(b"content-length", b"2"), (b"bad name", b"v"), (b"Upper", b"v")])])
    assert response_cycle._valid_names <= {b"content-length"}
    transcript(ResponseCycle, [start([(b"content-length", b"2"), (b"a", b"1"), (b"b", b"1"), (b"c", b"1")])])
    assert len(response_cycle._valid_names) == 3
    messages = [start([(b"content-length", b"2"), (b"a", b"1"), (b"b", b"1"), (b"c", b"1"), (b"d", b"1")]), body(b"ok")]
    assert transcript(ResponseCycle, messages) == transcript(UVICORN_CYCLE, messages)  # past the limit: uvicorn's way
    assert len(response_cycle._valid_names) == 3


def test_install_swaps_uvicorns_cycle_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httptools_impl, "RequestResponseCycle", UVICORN_CYCLE)
    assert response_cycle.install() is True
    assert httptools_impl.RequestResponseCycle is ResponseCycle
    assert response_cycle.install() is True and httptools_impl.RequestResponseCycle is ResponseCycle


def test_a_uvicorn_that_writes_differently_keeps_its_own_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httptools_impl, "RequestResponseCycle", UVICORN_CYCLE)
    original = UVICORN_CYCLE.send

    async def send_with_a_new_header(self: Any, message: Any) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message["headers"], (b"x-new-in-uvicorn", b"1")]}
        await original(self, message)

    monkeypatch.setattr(UVICORN_CYCLE, "send", send_with_a_new_header)  # what the short way would not write
    assert response_cycle.install() is False
    assert httptools_impl.RequestResponseCycle is UVICORN_CYCLE


def test_a_cycle_someone_else_installed_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    class TheirCycle(UVICORN_CYCLE):  # type: ignore[misc, valid-type]
        pass

    monkeypatch.setattr(httptools_impl, "RequestResponseCycle", TheirCycle)
    assert response_cycle.install() is False
    assert httptools_impl.RequestResponseCycle is TheirCycle
