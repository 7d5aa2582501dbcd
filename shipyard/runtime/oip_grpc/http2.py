"""gRPC's HTTP/2, served on the worker's own event loop: unary calls, which is all the Open
Inference Protocol has.

Why not grpcio's server: measured on the small benchmark model (bench/RESULTS.md, "protocols"),
grpcio's asyncio server spent ~460 µs of CPU per call against ~90 µs for the same request over
REST JSON, and a bare ``grpc.aio`` server answering a constant did under half of Shipyard's REST
rate; its thread-pool server did not reach REST either. The cost is grpcio's machinery around each
call (completion queues, per-call objects, thread hand-offs), not HTTP/2: one connection here is a
small :class:`asyncio.Protocol` that parses frames with ``struct``, decodes header blocks with
``hpack`` (the python-hyper HPACK codec, Huffman and dynamic table included) and remembers the
decoded form of blocks that repeat, as a client's do once its dynamic table is filled.

What it implements of RFC 9113 and gRPC's PROTOCOL-HTTP2.md:

- the connection preface, SETTINGS (and their ACKs), PING, GOAWAY both ways, RST_STREAM both ways,
  PRIORITY (ignored), CONTINUATION, padding, and unknown frame types (ignored, as required);
- flow control both ways: the client's windows are honoured when answering (large responses wait
  for WINDOW_UPDATE), and ours are replenished as data arrives;
- gRPC framing: one length-prefixed message per call, ``gzip``/``deflate`` request compression
  (decompressed to at most ``max_message_bytes``), ``grpc-timeout``, Trailers-Only error answers,
  ``grpc-message`` percent-encoded; HTTP 405/415 for what is not a gRPC call, and a plain HTTP/1.1
  400 for a client that did not speak HTTP/2 at all (a ``curl`` to the gRPC port).

Not implemented: streaming RPCs (the protocol has none), server push, TLS (terminate it in front,
as for the HTTP port), response compression (allowed: a server may always answer uncompressed).
A handler's work is not cancelled when its client resets the stream; its answer is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import zlib
from typing import Any, Protocol

from hpack import Decoder
from hpack.exceptions import HPACKError

from shipyard.runtime.oip_grpc.status import StatusCode

logger = logging.getLogger(__name__)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types and flags (RFC 9113 section 6).
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

# Error codes (section 7).
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0x0, 0x1, 0x2, 0x3
STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = 0x5, 0x6, 0x7, 0x8, 0x9

# Settings (section 6.5.2).
SETTINGS_HEADER_TABLE_SIZE, SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_INITIAL_WINDOW_SIZE = 0x1, 0x3, 0x4
SETTINGS_MAX_FRAME_SIZE, SETTINGS_MAX_HEADER_LIST_SIZE = 0x5, 0x6

MAX_WINDOW = 2**31 - 1
DEFAULT_WINDOW = 65_535
DEFAULT_FRAME_SIZE = 16_384

MAX_CONCURRENT_STREAMS = 1000
"""Calls in flight on one connection; more are refused (REFUSED_STREAM, which clients retry)."""
STREAM_WINDOW = 8 * 1024 * 1024
CONNECTION_WINDOW = 32 * 1024 * 1024
"""Receive windows: large, so a big tensor is not held back a round trip per 64 KiB. They do not
bound memory (data is taken as it comes); ``max_message_bytes`` per call does."""
MAX_FRAME_SIZE = 1024 * 1024
"""The largest frame we accept: fewer frames for big tensors."""
_HEADER_CACHE_ENTRIES = 256

_FRAME_HEAD = struct.Struct(">IBI")  # 24-bit length and 8-bit type in one word, flags, stream id
_MESSAGE_PREFIX = struct.Struct(">BI")  # gRPC: compressed flag, message length
_TIMEOUT_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}



class Service(Protocol):
    """What answers the calls (:class:`~shipyard.runtime.oip_grpc.service.InferenceService`):
    ``(path, message, metadata, peer, timeout_s)`` to a reply with ``code``, ``details``,
    ``message`` (the serialized response, ``None`` on an error) and ``headers``."""

    def call_now(self, path: str, body: bytes, metadata: dict[bytes, bytes], peer: tuple[str, int] | None,
                 timeout_s: float | None) -> Any: ...  # the reply, or None: use call()

    async def call(self, path: str, body: bytes, metadata: dict[bytes, bytes], peer: tuple[str, int] | None,
                   timeout_s: float | None) -> Any: ...


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return _FRAME_HEAD.pack(len(payload) << 8 | kind, flags, stream_id) + payload


def _hpack_int(value: int, prefix_bits: int, first: int = 0) -> bytes:
    """An HPACK integer (RFC 7541 section 5.1) in a first byte whose high bits are *first*."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out = bytearray((first | limit,))
    value -= limit
    while value >= 128:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name: bytes, value: bytes) -> bytes:
    """A header field as a literal not added to the client's dynamic table, without Huffman:
    answers index nothing, so the client's table size never matters to us."""
    prefix = _NAME_PREFIXES.get(name)
    if prefix is None:
        prefix = b"\x00" + _hpack_int(len(name), 7) + name
        if len(_NAME_PREFIXES) < 64:  # the names answers use are few: request ids, versions
            _NAME_PREFIXES[name] = prefix
    size = len(value)
    return prefix + (_SMALL_LENGTHS[size] if size < 127 else _hpack_int(size, 7)) + value


_NAME_PREFIXES: dict[bytes, bytes] = {}
_SMALL_LENGTHS = [bytes((size,)) for size in range(127)]


_STATUS_200 = b"\x88"  # ':status: 200', static table entry 8
_GRPC_CONTENT_TYPE = literal(b"content-type", b"application/grpc")
_OK_TRAILERS = literal(b"grpc-status", b"0")
_ANSWER_HEAD = _STATUS_200 + _GRPC_CONTENT_TYPE
_ACCEPT_ENCODING = literal(b"grpc-accept-encoding", b"identity,deflate,gzip")


def percent_encode(text: str) -> bytes:
    """``grpc-message``'s encoding: UTF-8, with bytes outside printable ASCII and ``%`` as ``%XX``."""
    raw = text.encode("utf-8", "replace")
    if all(0x20 <= byte <= 0x7E and byte != 0x25 for byte in raw):
        return raw
    return b"".join(bytes((byte,)) if 0x20 <= byte <= 0x7E and byte != 0x25 else b"%%%02X" % byte for byte in raw)


def parse_timeout(value: bytes) -> float | None:
    """``grpc-timeout`` (1-8 digits and a unit) in seconds; ``None`` when malformed."""
    unit = _TIMEOUT_UNITS.get(value[-1:])
    digits = value[:-1]
    if unit is None or not digits.isdigit() or len(digits) > 8:
        return None
    return int(digits) * unit


class _Internal:
    code, details, message, headers = StatusCode.INTERNAL, "internal error", None, ()


_INTERNAL = _Internal()


class _ConnectionError(Exception):
    """The peer broke the protocol: the connection ends with GOAWAY and this code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class Stream:
    """One call: the request as it arrives, and the answer while it waits for window."""

    __slots__ = ("id", "metadata", "body", "unacked", "send_window", "pending", "trailers", "received",
                 "answered", "too_large")

    def __init__(self, stream_id: int, send_window: int) -> None:
        self.id = stream_id
        self.metadata: dict[bytes, bytes] | None = None  # the request's header fields, once read
        self.body = bytearray()
        self.unacked = 0  # bytes received since our last WINDOW_UPDATE for this stream
        self.send_window = send_window
        self.pending: memoryview | None = None  # answer DATA not yet sent (window)
        self.trailers = b""
        self.received = False  # the client ended its side (END_STREAM)
        self.answered = False  # our END_STREAM is queued or sent
        self.too_large = False


class Limits:
    """What a connection accepts, from the runtime settings."""

    __slots__ = ("max_message_bytes", "max_header_bytes", "preface_timeout_s")

    def __init__(self, max_message_bytes: int, max_header_bytes: int, preface_timeout_s: float = 10.0) -> None:
        self.max_message_bytes = max_message_bytes
        self.max_header_bytes = max_header_bytes
        self.preface_timeout_s = preface_timeout_s  # SHIPYARD_HEADER_TIMEOUT_S, as for HTTP


class GrpcConnection(asyncio.Protocol):
    """One client connection: frames in, calls dispatched to *handler*, answers out."""

    def __init__(self, service: Service, limits: Limits, connections: set[GrpcConnection]) -> None:
        self.service = service
        self.limits = limits
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] | None = None
        self.buffer = bytearray()
        self.preface_seen = False
        self.preface_timer: asyncio.TimerHandle | None = None
        self.streams: dict[int, Stream] = {}
        self.blocked: dict[int, Stream] = {}  # answers waiting for the client's window, in order
        self.last_stream_id = 0
        self.continuing: tuple[Stream, int, bytearray] | None = None  # (stream, flags, header block so far)
        self.decoder = Decoder()
        self.header_cache: dict[bytes, tuple[dict[bytes, bytes], int]] = {}
        self.send_window = DEFAULT_WINDOW  # the client's connection window for our DATA
        self.peer_initial_window = DEFAULT_WINDOW
        self.peer_max_frame = DEFAULT_FRAME_SIZE
        self.unacked = 0  # received bytes not yet given back with a connection WINDOW_UPDATE
        self.closing = False  # GOAWAY sent or received: no new calls
        self.tasks: set[asyncio.Task[None]] = set()
        self.write_paused = False
        self.outgoing: list[bytes] = []  # frames to send when this loop step ends
        self.flush_scheduled = False
        self.close_after_flush = False

    # -- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) and len(peer) >= 2 else None
        self.connections.add(self)
        # a connection that never says it speaks HTTP/2 is dropped, as HTTP's header timeout does
        self.preface_timer = asyncio.get_running_loop().call_later(
            self.limits.preface_timeout_s, self._preface_late)

    def _preface_late(self) -> None:
        if not self.preface_seen and self.transport is not None:
            logger.info("gRPC connection from %s closed: no HTTP/2 preface within %gs (SHIPYARD_HEADER_TIMEOUT_S)",
                        self.peer, self.limits.preface_timeout_s)
            self.transport.close()

    def _preface(self) -> bytes:
        """Our SETTINGS and a connection WINDOW_UPDATE: sent once the client's preface has shown it
        speaks HTTP/2, so a client that does not gets a plain HTTP/1.1 answer and nothing else."""
        settings = struct.pack(
            ">HIHIHIHIHI",
            SETTINGS_HEADER_TABLE_SIZE, 4096,
            SETTINGS_MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS,
            SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW,
            SETTINGS_MAX_FRAME_SIZE, MAX_FRAME_SIZE,
            SETTINGS_MAX_HEADER_LIST_SIZE, self.limits.max_header_bytes,
        )  # fmt: skip
        self.decoder.max_allowed_table_size = 4096
        # Over our limit but not absurdly: answered per call (RESOURCE_EXHAUSTED); far over it, the
        # decoder stops mid-block and the connection's HPACK state is lost (COMPRESSION_ERROR).
        self.decoder.max_header_list_size = 4 * self.limits.max_header_bytes
        return (frame(SETTINGS, 0, 0, settings)
                + frame(WINDOW_UPDATE, 0, 0, (CONNECTION_WINDOW - DEFAULT_WINDOW).to_bytes(4, "big")))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.preface_timer is not None:
            self.preface_timer.cancel()
        self.connections.discard(self)
        self.streams.clear()
        self.blocked.clear()

    def pause_writing(self) -> None:  # the client is not reading: stop taking new work from it
        self.write_paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.preface_seen:
            if len(buffer) < len(PREFACE):
                if not PREFACE.startswith(bytes(buffer)):
                    self._not_http2()
                return
            if not buffer.startswith(PREFACE):
                self._not_http2()
                return
            del buffer[: len(PREFACE)]
            self.preface_seen = True
            if self.preface_timer is not None:
                self.preface_timer.cancel()
                self.preface_timer = None
            self._write([self._preface()])
        out: list[bytes] = []
        position = 0
        try:
            with memoryview(buffer) as view:
                size = len(buffer)
                while size - position >= 9:
                    word, flags, stream_id = _FRAME_HEAD.unpack_from(buffer, position)
                    length = word >> 8
                    if length > MAX_FRAME_SIZE:
                        raise _ConnectionError(FRAME_SIZE_ERROR, f"a {length}-byte frame; at most {MAX_FRAME_SIZE}")
                    end = position + 9 + length
                    if end > size:
                        break
                    self._frame(word & 0xFF, flags, stream_id & MAX_WINDOW, view[position + 9 : end], out)
                    position = end
        except _ConnectionError as exc:
            self._fail(exc.code, str(exc), out)
            return
        finally:
            try:
                del buffer[:position]
            except BufferError:  # a view is still held (only on the error path): copy instead
                self.buffer = bytearray(buffer[position:])
        if out:  # what this read produced (answers included, when scored inline) goes out now
            if self.outgoing:
                out = [*self.outgoing, *out]
                self.outgoing = []
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(b"".join(out))

    def _write(self, frames: list[bytes]) -> None:
        """Queue *frames*; they go out in one write when this loop step ends. Answers finished in
        the same step (several streams of one connection) then share one system call, which
        measured as the largest single cost per call when each answer was written alone."""
        self.outgoing.extend(frames)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self.flush_scheduled = False
        frames, self.outgoing = self.outgoing, []
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if frames:
            transport.write(b"".join(frames))
        if self.close_after_flush:
            transport.close()

    # -- frames in -------------------------------------------------------------------------------
    def _frame(self, kind: int, flags: int, stream_id: int, payload: memoryview, out: list[bytes]) -> None:
        if self.continuing is not None and kind != CONTINUATION:
            raise _ConnectionError(PROTOCOL_ERROR, "a header block was interrupted before its END_HEADERS")
        if kind == DATA:
            self._data(flags, stream_id, payload, out)
        elif kind == HEADERS:
            self._headers(flags, stream_id, payload, out)
        elif kind == CONTINUATION:
            self._continuation(flags, stream_id, payload, out)
        elif kind == SETTINGS:
            self._settings(flags, stream_id, payload, out)
        elif kind == WINDOW_UPDATE:
            self._window_update(stream_id, payload, out)
        elif kind == PING:
            if stream_id or len(payload) != 8:
                raise _ConnectionError(PROTOCOL_ERROR if stream_id else FRAME_SIZE_ERROR, "a malformed PING")
            if not flags & ACK:
                out.append(frame(PING, ACK, 0, bytes(payload)))
        elif kind == RST_STREAM:
            if not stream_id or len(payload) != 4:
                raise _ConnectionError(PROTOCOL_ERROR if not stream_id else FRAME_SIZE_ERROR, "a malformed RST_STREAM")
            stream = self.streams.pop(stream_id, None)
            if stream is not None:
                stream.answered = True  # whatever the handler answers later is dropped
                self.blocked.pop(stream_id, None)
            elif stream_id > self.last_stream_id:
                raise _ConnectionError(PROTOCOL_ERROR, f"RST_STREAM on idle stream {stream_id}")
        elif kind == GOAWAY:
            self.closing = True
            if not self.streams:
                self._close_soon()
        elif kind == PRIORITY:
            if len(payload) != 5:
                raise _ConnectionError(FRAME_SIZE_ERROR, "a PRIORITY frame must be 5 bytes")
        elif kind == PUSH_PROMISE:
            raise _ConnectionError(PROTOCOL_ERROR, "a client must not send PUSH_PROMISE")
        # other frame types are ignored (RFC 9113 section 4.1)

    def _headers(self, flags: int, stream_id: int, payload: memoryview, out: list[bytes]) -> None:
        if not stream_id % 2:
            raise _ConnectionError(PROTOCOL_ERROR, f"HEADERS on stream {stream_id}: client streams are odd")
        block = _unpad(flags, payload, PROTOCOL_ERROR)
        if flags & PRIORITY_FLAG:
            block = block[5:]
        stream = self.streams.get(stream_id)
        if stream is None:
            if stream_id <= self.last_stream_id:
                raise _ConnectionError(STREAM_CLOSED, f"HEADERS on closed stream {stream_id}")
            self.last_stream_id = stream_id
            stream = Stream(stream_id, self.peer_initial_window)
            if self.closing or len(self.streams) >= MAX_CONCURRENT_STREAMS:
                stream.answered = stream.received = True  # refused: decode the block (HPACK state), drop it
                out.append(frame(RST_STREAM, 0, stream_id, REFUSED_STREAM.to_bytes(4, "big")))
            else:
                self.streams[stream_id] = stream
        elif stream.received:
            raise _ConnectionError(STREAM_CLOSED, f"HEADERS after the end of stream {stream_id}")
        if flags & END_HEADERS:
            self._header_block(stream, flags, bytes(block), out)
        else:
            self.continuing = (stream, flags, bytearray(block))

    def _continuation(self, flags: int, stream_id: int, payload: memoryview, out: list[bytes]) -> None:
        if self.continuing is None or self.continuing[0].id != stream_id:
            raise _ConnectionError(PROTOCOL_ERROR, "CONTINUATION without the HEADERS it continues")
        stream, first_flags, block = self.continuing
        block += payload
        if len(block) > 4 * self.limits.max_header_bytes:
            raise _ConnectionError(COMPRESSION_ERROR, "a header block far over the header list size")
        if flags & END_HEADERS:
            self.continuing = None
            self._header_block(stream, first_flags, bytes(block), out)

    def _header_block(self, stream: Stream, flags: int, block: bytes, out: list[bytes]) -> None:
        metadata, size = self._decode(block)  # always: the HPACK state must follow every block
        if stream.answered:  # refused, or answered before the client finished sending
            if flags & END_STREAM:
                stream.received = True
                self._finish(stream)
            return
        if stream.metadata is not None:  # trailers from the client: gRPC clients send none; they end the request
            if not flags & END_STREAM:
                raise _ConnectionError(PROTOCOL_ERROR, "request trailers must end the stream")
        else:
            stream.metadata = metadata
            if size > self.limits.max_header_bytes:
                self._answer_error(stream, StatusCode.RESOURCE_EXHAUSTED,
                                   f"request metadata over {self.limits.max_header_bytes} bytes "
                                   "(SHIPYARD_MAX_HEADER_BYTES)", out)
                return
        if flags & END_STREAM:
            stream.received = True
            self._dispatch(stream, out)

    def _decode(self, block: bytes) -> tuple[dict[bytes, bytes], int]:
        """A header block as a dict (a repeated name keeps its last value) and its size as
        SETTINGS_MAX_HEADER_LIST_SIZE counts it; from memory when the same bytes came before and
        the dynamic table has not changed since (blocks that only refer to it decode the same).
        The dict is shared by the calls whose blocks repeat: nothing may change it."""
        cache = self.header_cache
        decoded = cache.get(block)
        if decoded is not None:
            return decoded
        table = self.decoder.header_table
        before = (len(table.dynamic_entries), table.dynamic_entries[0] if table.dynamic_entries else None,
                  table.maxsize)
        try:
            headers = self.decoder.decode(block, raw=True)
        except HPACKError as exc:
            raise _ConnectionError(COMPRESSION_ERROR, f"an undecodable header block ({exc})") from None
        decoded = dict(headers), sum(len(name) + len(value) + 32 for name, value in headers)
        after = (len(table.dynamic_entries), table.dynamic_entries[0] if table.dynamic_entries else None,
                 table.maxsize)
        if before[0] != after[0] or before[1] is not after[1] or before[2] != after[2]:
            cache.clear()  # the table changed: blocks remembered before may now decode differently
        elif len(cache) < _HEADER_CACHE_ENTRIES:
            cache[block] = decoded
        return decoded

    def _data(self, flags: int, stream_id: int, payload: memoryview, out: list[bytes]) -> None:
        if not stream_id:
            raise _ConnectionError(PROTOCOL_ERROR, "DATA on stream 0")
        length = len(payload)
        self.unacked += length
        if self.unacked >= CONNECTION_WINDOW // 2:
            out.append(frame(WINDOW_UPDATE, 0, 0, self.unacked.to_bytes(4, "big")))
            self.unacked = 0
        stream = self.streams.get(stream_id)
        if stream is None or stream.received:
            if stream_id > self.last_stream_id:
                raise _ConnectionError(PROTOCOL_ERROR, f"DATA on idle stream {stream_id}")
            if stream is not None:
                raise _ConnectionError(STREAM_CLOSED, f"DATA after the end of stream {stream_id}")
            return  # a stream we reset or answered early: its data only counts for the window
        data = _unpad(flags, payload, PROTOCOL_ERROR)
        if not stream.answered:
            if len(stream.body) + len(data) > self.limits.max_message_bytes + 5:
                self._answer_error(stream, StatusCode.RESOURCE_EXHAUSTED,
                                   f"Received message larger than max ({len(stream.body) + len(data) - 5} vs. "
                                   f"{self.limits.max_message_bytes})", out)
                stream.body = bytearray()
            else:
                stream.body += data
        if flags & END_STREAM:
            stream.received = True
            if stream.answered:
                self._finish(stream)
            else:
                self._dispatch(stream, out)
            return
        if stream.answered:  # answered early and reset: no more window for it
            return
        stream.unacked += length
        if stream.unacked >= STREAM_WINDOW // 2:
            out.append(frame(WINDOW_UPDATE, 0, stream_id, stream.unacked.to_bytes(4, "big")))
            stream.unacked = 0

    def _settings(self, flags: int, stream_id: int, payload: memoryview, out: list[bytes]) -> None:
        if stream_id:
            raise _ConnectionError(PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & ACK:
            if payload:
                raise _ConnectionError(FRAME_SIZE_ERROR, "a SETTINGS ACK with a payload")
            return
        if len(payload) % 6:
            raise _ConnectionError(FRAME_SIZE_ERROR, "SETTINGS not a multiple of 6 bytes")
        for offset in range(0, len(payload), 6):
            key, value = struct.unpack_from(">HI", payload, offset)
            if key == SETTINGS_INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    raise _ConnectionError(FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1")
                delta, self.peer_initial_window = value - self.peer_initial_window, value
                for stream in self.streams.values():
                    stream.send_window += delta
            elif key == SETTINGS_MAX_FRAME_SIZE:
                if not DEFAULT_FRAME_SIZE <= value <= 2**24 - 1:
                    raise _ConnectionError(PROTOCOL_ERROR, f"SETTINGS_MAX_FRAME_SIZE {value} out of range")
                self.peer_max_frame = value
            # the others concern what we send: we index nothing, push nothing, and stay under the sizes
        out.append(frame(SETTINGS, ACK, 0))
        self._flush_blocked(out)

    def _window_update(self, stream_id: int, payload: memoryview, out: list[bytes]) -> None:
        if len(payload) != 4:
            raise _ConnectionError(FRAME_SIZE_ERROR, "WINDOW_UPDATE must be 4 bytes")
        increment = int.from_bytes(payload, "big") & MAX_WINDOW
        if not stream_id:
            if not increment:
                raise _ConnectionError(PROTOCOL_ERROR, "a connection WINDOW_UPDATE of 0")
            self.send_window += increment
            if self.send_window > MAX_WINDOW:
                raise _ConnectionError(FLOW_CONTROL_ERROR, "the connection window went over 2^31-1")
        else:
            stream = self.streams.get(stream_id)
            if stream is None:
                return
            if not increment or stream.send_window + increment > MAX_WINDOW:
                out.append(frame(RST_STREAM, 0, stream_id,
                                 (PROTOCOL_ERROR if not increment else FLOW_CONTROL_ERROR).to_bytes(4, "big")))
                self.streams.pop(stream_id, None)
                self.blocked.pop(stream_id, None)
                stream.answered = True
                return
            stream.send_window += increment
        self._flush_blocked(out)

    # -- calls -----------------------------------------------------------------------------------
    def _dispatch(self, stream: Stream, out: list[bytes]) -> None:
        """The request is complete: check it is a gRPC call and hand it to the handler."""
        metadata = stream.metadata or {}
        if metadata.get(b":method") != b"POST":
            self._answer_http(stream, 405, b"gRPC calls are POST requests", out)
            return
        if not metadata.get(b"content-type", b"").startswith(b"application/grpc"):
            self._answer_http(stream, 415, b"gRPC calls need content-type application/grpc", out)
            return
        path = metadata.get(b":path", b"").decode("latin-1")
        body = stream.body
        if len(body) < 5:
            self._answer_error(stream, StatusCode.UNIMPLEMENTED,
                               f'"{path}" requires exactly one request message.', out)  # grpcio's words
            return
        compressed, length = _MESSAGE_PREFIX.unpack_from(body)
        if len(body) != 5 + length:
            self._answer_error(stream, StatusCode.UNIMPLEMENTED if len(body) > 5 + length else StatusCode.INTERNAL,
                               f'"{path}" requires exactly one request message.' if len(body) > 5 + length
                               else "the request message was cut short", out)
            return
        message = bytes(body[5:]) if length else b""
        stream.body = bytearray()
        if compressed:
            message, error = self._decompress(metadata.get(b"grpc-encoding", b"identity"), message)
            if error is not None:
                self._answer_error(stream, *error, out)
                return
        timeout = None
        raw_timeout = metadata.get(b"grpc-timeout")
        if raw_timeout is not None:
            timeout = parse_timeout(raw_timeout)
            if timeout is None:
                self._answer_error(stream, StatusCode.INTERNAL, f"malformed grpc-timeout {raw_timeout!r}", out)
                return
        try:
            reply = self.service.call_now(path, message, metadata, self.peer, timeout)
        except Exception:  # the service answers every failure itself; this is a last resort
            logger.exception("gRPC call %s failed", path)
            reply = _INTERNAL
        if reply is not None:
            self._reply(stream, reply, out)
            return
        task = asyncio.get_running_loop().create_task(self._serve(stream, path, message, metadata, timeout))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _decompress(self, encoding: bytes, message: bytes) -> tuple[bytes, tuple[StatusCode, str] | None]:
        if encoding not in (b"gzip", b"deflate"):
            if encoding == b"identity":
                return b"", (StatusCode.INTERNAL, "a compressed message without grpc-encoding")
            # INTERNAL, as grpcio answers a name it does not know ("Error parsing 'grpc-encoding' metadata")
            return b"", (StatusCode.INTERNAL, f"grpc-encoding {encoding.decode('latin-1')!r} is not supported; "
                                              "use gzip, deflate or none")
        inflater = zlib.decompressobj(31 if encoding == b"gzip" else 15)
        limit = self.limits.max_message_bytes
        try:
            plain = inflater.decompress(message, limit + 1)
        except zlib.error as exc:
            return b"", (StatusCode.INTERNAL, f"the {encoding.decode()} message does not decompress ({exc})")
        if len(plain) > limit:
            return b"", (StatusCode.RESOURCE_EXHAUSTED, f"Received message larger than max (over {limit} bytes "
                                                        "once decompressed)")
        return plain, None

    async def _serve(self, stream: Stream, path: str, message: bytes, metadata: dict[bytes, bytes],
                     timeout: float | None) -> None:
        try:
            reply = await self.service.call(path, message, metadata, self.peer, timeout)
        except Exception:  # the service answers every failure itself; this is a last resort
            logger.exception("gRPC call %s failed", path)
            reply = _INTERNAL
        if stream.answered or self.transport is None or self.transport.is_closing():
            return  # the client reset the stream, or left
        out: list[bytes] = []
        self._reply(stream, reply, out)
        self._write(out)

    def _reply(self, stream: Stream, reply: Any, out: list[bytes]) -> None:
        if reply.message is None:
            self._answer_error(stream, reply.code, reply.details, out, reply.headers)
        else:
            self._answer(stream, reply.message, reply.headers, out)

    # -- frames out ------------------------------------------------------------------------------
    def _answer(self, stream: Stream, message: bytes, headers: list[tuple[bytes, bytes]], out: list[bytes]) -> None:
        block = _ANSWER_HEAD + b"".join([literal(name, value) for name, value in headers])
        self._header_frames(stream.id, block, 0, out)
        stream.answered = True
        data = _MESSAGE_PREFIX.pack(0, len(message)) + message
        size = len(data)
        if size <= self.send_window and size <= stream.send_window and size <= self.peer_max_frame:
            # the usual answer: fits every window, so DATA and trailers go at once
            self.send_window -= size
            stream.send_window -= size
            out.append(_FRAME_HEAD.pack(size << 8 | DATA, 0, stream.id))
            out.append(data)
            out.append(_FRAME_HEAD.pack(len(_OK_TRAILERS) << 8 | HEADERS, END_STREAM | END_HEADERS, stream.id))
            out.append(_OK_TRAILERS)
            self._finish(stream, out)
            return
        stream.pending = memoryview(data)
        stream.trailers = _OK_TRAILERS
        self._send_pending(stream, out)

    def _answer_error(self, stream: Stream, code: int, details: str, out: list[bytes],
                      headers: list[tuple[bytes, bytes]] = ()) -> None:  # type: ignore[assignment]
        """A Trailers-Only answer: one HEADERS frame with the status, ending the stream."""
        block = [_STATUS_200, _GRPC_CONTENT_TYPE, literal(b"grpc-status", str(int(code)).encode())]
        if details:
            block.append(literal(b"grpc-message", percent_encode(details[:4096])))
        if code == StatusCode.UNIMPLEMENTED:
            block.append(_ACCEPT_ENCODING)
        block.extend(literal(name, value) for name, value in headers)
        self._header_frames(stream.id, b"".join(block), END_STREAM, out)
        stream.answered = True
        self._finish(stream, out)

    def _answer_http(self, stream: Stream, status: int, text: bytes, out: list[bytes]) -> None:
        """Not a gRPC call: a plain HTTP answer, as gRPC's spec asks (405, 415)."""
        block = (b"\x08" + _hpack_int(3, 7) + str(status).encode()
                 + literal(b"content-type", b"text/plain; charset=utf-8"))
        self._header_frames(stream.id, block, 0, out)
        stream.answered = True
        stream.pending = memoryview(text + b"\n")
        stream.trailers = b""
        self._send_pending(stream, out)

    def _header_frames(self, stream_id: int, block: bytes, flags: int, out: list[bytes]) -> None:
        size = self.peer_max_frame
        if len(block) <= size:
            out.append(frame(HEADERS, flags | END_HEADERS, stream_id, block))
            return
        out.append(frame(HEADERS, flags, stream_id, block[:size]))
        for start in range(size, len(block), size):
            last = start + size >= len(block)
            out.append(frame(CONTINUATION, END_HEADERS if last else 0, stream_id, block[start : start + size]))

    def _send_pending(self, stream: Stream, out: list[bytes]) -> None:
        """Send as much of the answer's DATA as the windows allow; the trailers once all is sent."""
        pending = stream.pending
        assert pending is not None
        while pending:
            room = min(self.send_window, stream.send_window, self.peer_max_frame)
            if room <= 0:
                stream.pending = pending
                self.blocked[stream.id] = stream
                return
            chunk = pending[:room]
            pending = pending[room:]
            self.send_window -= len(chunk)
            stream.send_window -= len(chunk)
            last = not pending and not stream.trailers
            out.append(frame(DATA, END_STREAM if last else 0, stream.id, bytes(chunk)))
        stream.pending = None
        self.blocked.pop(stream.id, None)
        if stream.trailers:
            self._header_frames(stream.id, stream.trailers, END_STREAM, out)
        self._finish(stream, out)

    def _flush_blocked(self, out: list[bytes]) -> None:
        for stream in list(self.blocked.values()):
            if self.send_window <= 0:
                return
            self._send_pending(stream, out)

    def _finish(self, stream: Stream, out: list[bytes] | None = None) -> None:
        """Our answer is fully sent: forget the stream once the client's side has ended too; if
        it has not (we answered early), tell it to stop sending."""
        if stream.pending is not None:
            return
        if not stream.received and out is not None:
            out.append(frame(RST_STREAM, 0, stream.id, NO_ERROR.to_bytes(4, "big")))
            stream.received = True
        if stream.received:
            self.streams.pop(stream.id, None)
            if self.closing and not self.streams:
                self._close_soon()

    # -- the connection's end --------------------------------------------------------------------
    def goaway(self) -> None:
        """Stop taking new calls (graceful shutdown); the calls already started are answered."""
        if self.transport is None or self.transport.is_closing():
            return
        self.closing = True
        self._write([frame(GOAWAY, 0, 0, self.last_stream_id.to_bytes(4, "big") + NO_ERROR.to_bytes(4, "big"))])
        if not self.streams:
            self._close_soon()

    def _close_soon(self) -> None:
        """Close once what is queued has been written."""
        self.close_after_flush = True
        self._write([])

    def _fail(self, code: int, reason: str, out: list[bytes]) -> None:
        logger.info("gRPC connection from %s closed: %s", self.peer, reason)
        out.append(frame(GOAWAY, 0, 0, self.last_stream_id.to_bytes(4, "big") + code.to_bytes(4, "big")
                         + reason.encode()[:256]))
        if self.transport is not None:
            self.transport.write(b"".join(out))
            self.transport.close()
        self.closing = True

    def _not_http2(self) -> None:
        """Not HTTP/2 (an HTTP/1.1 client on the gRPC port): say so in HTTP/1.1, then close."""
        text = (b"This port serves gRPC (HTTP/2, the Open Inference Protocol). "
                b"Use a gRPC client such as tritonclient.grpc, or the HTTP port for REST.\n")
        if self.transport is not None:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
                                 b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(text), text))
            self.transport.close()


def _unpad(flags: int, payload: memoryview, error: int) -> memoryview:
    if not flags & PADDED:
        return payload
    if not payload:
        raise _ConnectionError(error, "a PADDED frame without its pad length")
    pad = payload[0]
    if pad >= len(payload):
        raise _ConnectionError(error, "padding longer than the frame")
    return payload[1 : len(payload) - pad]
