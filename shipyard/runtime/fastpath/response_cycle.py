"""uvicorn's response writing for the usual answer in a few C-level passes, not a Python loop per header.

uvicorn's httptools protocol turns an ASGI ``http.response.start`` into bytes one header at a
time: two regular-expression searches (name and value, so no CR/LF or separator is smuggled
into the response), a lower-casing, three comparisons and a list per header, about 45 Python
bytecodes each. A scoring answer carries seven headers (``date``, ``content-type``,
``content-length`` and Azure ML's four request-id and ``run()`` headers), so this loop was the
largest single piece of Python on the ``/score`` path (``bench/runtime/instructions.py``).

:class:`ResponseCycle` is uvicorn's ``RequestResponseCycle`` with a shorter way to the same
bytes for the usual answer: headers whose names are known-valid lower-case names (checked once
each with uvicorn's own pattern, then remembered), exactly one ``content-length``, no
``transfer-encoding`` or ``connection`` header. Then all values are checked at once for
the bytes uvicorn's value pattern forbids (joined by a tab, which the pattern allows, so the joined
check finds a forbidden byte exactly when one of the values has one) and the head is joined in C.
Anything else (streaming, chunked, ``connection: close`` from the app, upper-case names, a
paused or closed connection, uvicorn's own access log) goes to uvicorn's ``send`` unchanged.

:func:`install` makes uvicorn use the class, but only after checking, on the uvicorn installed,
that it writes byte for byte what uvicorn writes for a set of sample answers (:func:`transcript`;
the tests run many more), so a uvicorn release that answers differently keeps its own code.
"""

from __future__ import annotations

import asyncio
import logging
from operator import itemgetter
from typing import Any

logger = logging.getLogger(__name__)

try:
    from uvicorn.protocols.http import httptools_impl
except ImportError:  # no httptools: uvicorn runs h11, which writes responses its own way
    httptools_impl = None  # type: ignore[assignment]

MAX_REMEMBERED = 1024
"""Distinct valid header names kept; an answer with a name past this goes the uvicorn way."""

_NAME, _VALUE = itemgetter(0), itemgetter(1)
_CONTENT_LENGTH = b"content-length"
_NOT_FAST = frozenset({b"transfer-encoding", b"connection"})  # uvicorn acts on these: leave it to uvicorn
_valid_names: set[bytes] = set()
_FORBIDDEN_IN_VALUES = bytes([*range(0x09), *range(0x0A, 0x20), 0x7F])
"""What uvicorn's ``HEADER_VALUE_RE`` looks for: control characters, except tab."""
_FLAG_FORBIDDEN = bytes(0 if byte in _FORBIDDEN_IN_VALUES else 1 for byte in range(256))


def _has_forbidden_byte(values: bytes) -> bool:
    """uvicorn's value check as a table lookup per byte (its regular expression costs several times that)."""
    return 0 in values.translate(_FLAG_FORBIDDEN)


def _learn(names: list[bytes]) -> bool:
    """Check the names not seen yet with uvicorn's pattern; whether all may go the short way."""
    for name in names:
        if name not in _valid_names:
            if (name.__class__ is not bytes or httptools_impl.HEADER_RE.search(name) is not None
                    or name != name.lower() or name in _NOT_FAST or len(_valid_names) >= MAX_REMEMBERED):
                return False
            _valid_names.add(name)
    return True


if httptools_impl is not None:

    class ResponseCycle(httptools_impl.RequestResponseCycle):  # type: ignore[name-defined, misc]
        """uvicorn's request/response cycle; the usual head and body are written without its per-header loop."""

        async def send(self, message: Any) -> None:
            if self.disconnected or self.flow.write_paused:
                await super().send(message)  # uvicorn drains or drops
            elif not self.response_started:
                if self.access_log or message["type"] != "http.response.start" or not self._start(message):
                    await super().send(message)
            elif (self.chunked_encoding is False and not self.response_complete
                  and message["type"] == "http.response.body" and self.scope["method"] != "HEAD"):
                # uvicorn's own steps for a body under a content-length
                body = message.get("body", b"")
                if len(body) > self.expected_content_length:
                    raise RuntimeError("Response content longer than Content-Length")
                self.expected_content_length -= len(body)
                self.transport.write(body)
                if not message.get("more_body", False):
                    if self.expected_content_length != 0:
                        raise RuntimeError("Response content shorter than Content-Length")
                    self.response_complete = True
                    self.message_event.set()
                    if not self.keep_alive:
                        self.transport.close()
                    self.on_response()
            else:
                await super().send(message)

        def _start(self, message: Any) -> bool:
            """Write the head of the usual answer; ``False`` (nothing done) if it is not one."""
            headers = message.get("headers", ())
            if headers.__class__ is not list and headers.__class__ is not tuple:
                return False  # an iterator can be read once: leave it to uvicorn
            try:
                status_line = httptools_impl.STATUS_LINE.get(message.get("status"))
                headers = self.default_headers + list(headers)
                names = list(map(_NAME, headers))
                if (status_line is None or not (_valid_names.issuperset(names) or _learn(names))
                        or names.count(_CONTENT_LENGTH) != 1
                        or _has_forbidden_byte(b"\t".join(map(_VALUE, headers)))
                        or sum(map(len, headers)) != 2 * len(headers)):  # with _VALUE above: all pairs
                    return False
                head = b"".join([status_line, b"\r\n".join(map(b": ".join, headers)),
                                 b"\r\n\r\n" if self.keep_alive else b"\r\nconnection: close\r\n\r\n"])
            except (TypeError, IndexError):  # not bytes, not pairs, an unhashable status: uvicorn says what is wrong
                return False
            self.response_started = True
            self.waiting_for_100_continue = False
            self.expected_content_length = int(headers[names.index(_CONTENT_LENGTH)][1].decode())
            self.chunked_encoding = False
            self.transport.write(head)
            return True

else:  # pragma: no cover - httptools is installed wherever the tests run
    ResponseCycle = None  # type: ignore[assignment, misc]


class _RecordingTransport(asyncio.Transport):
    """Keeps what a cycle writes, for :func:`transcript`."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def transcript(cycle_class: type, messages: list[dict[str, Any]], *, method: str = "POST", keep_alive: bool = True,
               default_headers: list[tuple[bytes, bytes]] | None = None) -> tuple[Any, ...]:
    """Everything observable when *cycle_class* is sent *messages*: bytes written, close, error, state.

    Two cycle classes that give equal transcripts for an answer wrote the same response the same
    way. Used by :func:`install` and the tests.
    """
    transport = _RecordingTransport()
    completed: list[bool] = []
    cycle = cycle_class(
        scope={"type": "http", "method": method, "path": "/score", "query_string": b"", "headers": [],
               "http_version": "1.1", "client": ("127.0.0.1", 5000)},
        transport=transport, flow=httptools_impl.FlowControl(transport), logger=logger, access_logger=logger,
        access_log=False, default_headers=default_headers if default_headers is not None else [],
        message_event=asyncio.Event(), expect_100_continue=False, keep_alive=keep_alive,
        on_response=lambda: completed.append(True),
    )  # fmt: skip
    error = None
    for message in messages:
        coroutine = cycle.send(message)
        try:
            coroutine.send(None)
        except StopIteration:
            continue
        except Exception as exc:  # noqa: BLE001 - the error is part of the transcript
            error = (type(exc).__name__, str(exc))
            break
        coroutine.close()
        error = ("suspended", "")  # neither class may wait on a writable connection
        break
    state = (cycle.response_started, cycle.response_complete, cycle.chunked_encoding,
             cycle.expected_content_length, cycle.keep_alive, cycle.message_event.is_set())  # fmt: skip
    return b"".join(transport.written), transport.closed, error, state, len(completed)


def _samples() -> list[tuple[list[dict[str, Any]], dict[str, Any]]]:
    """A few answers of each kind the short way takes, for :func:`install`'s check."""
    date = [(b"date", b"Fri, 27 Nov 2026 05:34:06 GMT")]
    headers = [(b"content-type", b"application/json"), (b"content-length", b"14"), (b"x-ms-run-fn-exec-ms", b"0.036"),
               (b"x-request-id", b"8e64d8f2-10b3-429f-ad20-0001e1613134")]  # fmt: skip
    answer = [{"type": "http.response.start", "status": 200, "headers": headers},
              {"type": "http.response.body", "body": b'{"result":[0]}'}]  # fmt: skip
    return [
        (answer, {"default_headers": date}),
        (answer, {"default_headers": date, "keep_alive": False}),
        (answer, {"default_headers": date, "method": "HEAD"}),
        ([{**answer[0], "status": 404}, {**answer[1], "body": b'{"result":', "more_body": True},
          {"type": "http.response.body", "body": b"[0]}"}], {}),
    ]


def install() -> bool:
    """Make uvicorn's httptools protocol use :class:`ResponseCycle`; ``False`` if left as it was.

    Left as it was: no httptools, or uvicorn's own cycle writes any sample answer differently
    (another uvicorn release), so the short way could not be trusted to match it.
    """
    if httptools_impl is None or ResponseCycle is None:
        return False
    current = httptools_impl.RequestResponseCycle
    if current is ResponseCycle:
        return True
    if current is not ResponseCycle.__base__:
        logger.debug("uvicorn's RequestResponseCycle was replaced by someone else; left as it is")
        return False
    try:
        same = all(transcript(current, messages, **options) == transcript(ResponseCycle, messages, **options)
                   for messages, options in _samples())  # fmt: skip
    except Exception:
        logger.debug("could not compare uvicorn's response writing with Shipyard's", exc_info=True)
        same = False
    if not same:
        logger.debug("uvicorn writes responses differently from what Shipyard's short way matches; left as it is")
        return False
    httptools_impl.RequestResponseCycle = ResponseCycle
    return True
