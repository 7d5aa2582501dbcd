"""Shipyard's own gRPC transport (``oip_grpc/http2.py``) at the HTTP/2 level, beside grpcio's server.

Both servers run in one event loop in a background thread and answer through the same real
:class:`InferenceService` (the tiny ONNX model, loaded by a real :class:`DataPlane`): Shipyard's
transport on one port, and grpcio's ``grpc.aio`` server (the reference, what Shipyard used before)
on another, with a generic handler that hands it the same raw calls. A raw HTTP/2 client (the
``h2`` library) sends both the same frames, including malformed calls, and the tests compare
what comes back. The real grpc C-core client (``grpcio``) covers what it does by itself: large
messages under small flow-control windows, compression, many calls on one channel.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import h2.config
import h2.connection
import h2.events
import h2.settings
import numpy as np
import pytest
from grpc import aio

from shipyard.runtime.auth import ApiKeyAuth
from shipyard.runtime.dataplane import DataPlane
from shipyard.runtime.metrics import Metrics
from shipyard.runtime.oip_grpc import messages
from shipyard.runtime.oip_grpc.server import GrpcServer, start_grpc_server
from shipyard.runtime.oip_grpc.service import InferenceService
from shipyard.runtime.settings import RuntimeSettings
from tests.fixtures.servers import free_port
from tests.runtime.conftest import write_onnx_model

INFER = f"/{messages.SERVICE}/ModelInfer"
MAX_MESSAGE = 64 * 1024 * 1024


@dataclass
class Servers:
    shipyard: int  # port of Shipyard's transport
    grpcio: int  # port of grpcio's server, same service
    loop: asyncio.AbstractEventLoop
    ours: GrpcServer


def _grpcio_handler(service: InferenceService) -> grpc.GenericRpcHandler:
    """grpcio as the transport of the same service: raw bytes in, raw bytes or a status out."""

    class Handler(grpc.GenericRpcHandler):
        def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
            path = details.method

            async def unary(body: bytes, context: aio.ServicerContext) -> bytes:
                metadata = {key.encode(): value if isinstance(value, bytes) else value.encode()
                            for key, value in context.invocation_metadata() or ()}
                reply = service.call_now(path, body, metadata, None, context.time_remaining())
                if reply is None:
                    reply = await service.call(path, body, metadata, None, context.time_remaining())
                await context.send_initial_metadata(tuple((k.decode(), v.decode()) for k, v in reply.headers))
                if reply.message is None:
                    await context.abort(grpc.StatusCode(_code(reply.code)), reply.details)
                return reply.message

            if path != INFER and not path.startswith(f"/{messages.SERVICE}/") and "Health" not in path:
                return None  # unknown: grpcio answers UNIMPLEMENTED itself
            return grpc.unary_unary_rpc_method_handler(unary)

    return Handler()


def _code(number: int) -> tuple[int, str]:
    return next(code.value for code in grpc.StatusCode if code.value[0] == number)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    folder = tmp_path_factory.mktemp("http2")
    write_onnx_model(folder / "model")
    settings = RuntimeSettings(model_dir=folder / "model", model_name="tiny", max_body_bytes=MAX_MESSAGE,
                               entry_script=None)  # explicit: other tests may leave AZUREML_ENTRY_SCRIPT set
    loop = asyncio.new_event_loop()
    started: dict[str, Any] = {}

    async def start() -> None:
        metrics = Metrics("tiny")
        dataplane = DataPlane(settings, observe_model_time=metrics.observe_model)
        await dataplane.load()
        service = InferenceService(dataplane, auth=ApiKeyAuth([]), metrics=metrics, access_log=None)
        port = free_port()
        started["ours"] = await start_grpc_server(service, host="127.0.0.1", port=port,
                                                  max_message_bytes=MAX_MESSAGE, max_header_bytes=8192,
                                                  shared_port=False)
        started["shipyard"] = port
        reference = aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE)])
        reference.add_generic_rpc_handlers((_grpcio_handler(service),))
        started["grpcio"] = reference.add_insecure_port("127.0.0.1:0")
        await reference.start()
        started["reference"] = reference

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=60)
    yield Servers(started["shipyard"], started["grpcio"], loop, started["ours"])
    asyncio.run_coroutine_threadsafe(started["reference"].stop(0), loop).result(timeout=10)
    asyncio.run_coroutine_threadsafe(started["ours"].stop(0), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)


# -- a raw HTTP/2 client --------------------------------------------------------------------------
@dataclass
class Answer:
    """What came back on one stream (or the connection)."""

    headers: dict[str, str] = field(default_factory=dict)
    data: bytes = b""
    trailers: dict[str, str] = field(default_factory=dict)
    reset: int | None = None
    goaway: int | None = None
    pings: list[bytes] = field(default_factory=list)

    @property
    def grpc_status(self) -> int | None:
        value = self.trailers.get("grpc-status", self.headers.get("grpc-status"))
        return None if value is None else int(value)

    @property
    def grpc_message(self) -> str:
        return self.trailers.get("grpc-message", self.headers.get("grpc-message", ""))


class RawClient:
    """A blocking HTTP/2 client on ``h2``'s state machine, for frames real gRPC clients never send."""

    def __init__(self, port: int, settings: dict[int, int] | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.h2.initiate_connection()
        if settings:
            self.h2.update_settings(settings)
        self.flush()

    def flush(self) -> None:
        self.sock.sendall(self.h2.data_to_send())

    def request(self, path: str = INFER, *, body: bytes | None = None, extra: tuple = (),
                content_type: str = "application/grpc", end: bool = True, pad: int | None = None) -> int:
        stream = self.h2.get_next_available_stream_id()
        headers = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
                   ("te", "trailers"), ("content-type", content_type), *extra]
        self.h2.send_headers(stream, headers, end_stream=body is None and end)
        self.flush()
        if body is not None:
            self.send_body(stream, body, end=end, pad=pad)
        return stream

    def send_body(self, stream: int, body: bytes, *, end: bool = True, pad: int | None = None) -> None:
        """Send *body* as DATA within the server's windows, waiting for its WINDOW_UPDATEs."""
        view = memoryview(body)
        while True:
            room = min(self.h2.local_flow_control_window(stream), self.h2.max_outbound_frame_size)
            if pad is not None:
                room -= pad + 1
            if room > 0:
                chunk, view = view[:room], view[room:]
                self.h2.send_data(stream, bytes(chunk), end_stream=end and not view, pad_length=pad)
                self.flush()
                if not view:
                    return
                continue
            self.sock.settimeout(10)  # wait for window
            events = self.h2.receive_data(self.sock.recv(65536))
            self.flush()
            if any(isinstance(event, (h2.events.StreamReset, h2.events.ConnectionTerminated)) for event in events):
                self.early = events  # the server answered before the body was all sent
                return

    def answer(self, stream: int, *, timeout: float = 10) -> Answer:
        """Read until *stream* ends (or is reset, or the connection goes away)."""
        answer = Answer()
        for event in getattr(self, "early", ()):
            self._take(event, stream, answer)
        self.sock.settimeout(timeout)
        while self.h2.streams.get(stream) is not None and not self.h2.streams[stream].closed:
            data = self.sock.recv(65536)
            if not data:
                return answer
            for event in self.h2.receive_data(data):
                self._take(event, stream, answer)
            self.flush()
            if answer.reset is not None or answer.goaway is not None:
                return answer
        return answer

    def _take(self, event: h2.events.Event, stream: int, answer: Answer) -> None:
        if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
            answer.headers = dict(event.headers)
        elif isinstance(event, h2.events.DataReceived):
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if event.stream_id == stream:
                answer.data += event.data
        elif isinstance(event, h2.events.TrailersReceived) and event.stream_id == stream:
            answer.trailers = dict(event.headers)
        elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream:
            answer.reset = event.error_code
        elif isinstance(event, h2.events.ConnectionTerminated):
            answer.goaway = event.error_code
        elif isinstance(event, h2.events.PingAckReceived):
            answer.pings.append(event.ping_data)

    def close(self) -> None:
        self.sock.close()


def grpc_frame(message: bytes, compressed: bool = False) -> bytes:
    return struct.pack(">BI", int(compressed), len(message)) + message


def infer_request(x: np.ndarray, **fields: Any) -> Any:
    """``ModelInfer`` for the tiny model: *x* as raw contents (and its other two inputs), asking
    for ``doubled`` only."""
    request = messages.ModelInferRequest(model_name="tiny", **fields)
    request.inputs.add(name="x", datatype="FP32", shape=list(x.shape))
    request.inputs.add(name="h", datatype="FP16", shape=[1])
    request.inputs.add(name="t", datatype="BYTES", shape=[1])
    request.raw_input_contents.extend([x.astype("<f4").tobytes(), np.zeros(1, "<f2").tobytes(), b"\1\0\0\0t"])
    request.outputs.add(name="doubled")
    return request


def infer_message(rows: int = 2) -> bytes:
    return infer_request(np.arange(rows * 3, dtype=np.float32).reshape(rows, 3)).SerializeToString()


def both(servers: Servers, **kwargs: Any) -> tuple[Answer, Answer]:
    """Send the same call to Shipyard and to grpcio; both answers."""
    answers = []
    for port in (servers.shipyard, servers.grpcio):
        client = RawClient(port)
        try:
            answers.append(client.answer(client.request(**kwargs)))
        finally:
            client.close()
    return answers[0], answers[1]


# -- the same calls, both servers ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("case", "call"),
    [
        ("a good call", {"body": grpc_frame(infer_message())}),
        ("an unknown method", {"path": f"/{messages.SERVICE}/Nope", "body": grpc_frame(b"")}),
        ("an unknown service", {"path": "/other.Service/Call", "body": grpc_frame(b"")}),
        ("an undecodable message", {"body": grpc_frame(b"\xff\xff\xff")}),
        ("a gzip message", {"body": grpc_frame(gzip.compress(infer_message()), compressed=True),
                            "extra": (("grpc-encoding", "gzip"),)}),
        ("an unsupported encoding", {"body": grpc_frame(b"x", compressed=True),
                                     "extra": (("grpc-encoding", "snappy"),)}),
        ("a model the server lacks", {"body": grpc_frame(messages.ModelInferRequest(model_name="nope")
                                                         .SerializeToString())}),
        ("a message over the limit", {"body": grpc_frame(b"\0" * (MAX_MESSAGE + 1))}),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_the_same_calls_get_the_same_status_as_from_grpcio(servers: Servers, case: str, call: dict) -> None:
    ours, reference = both(servers, **call)
    assert ours.headers.get(":status") == reference.headers.get(":status") == "200"
    assert ours.grpc_status == reference.grpc_status, (case, ours.grpc_message, reference.grpc_message)
    assert ours.data == reference.data
    if case == "a good call":
        assert ours.grpc_status == 0
        response = messages.ModelInferResponse.FromString(ours.data[5:])
        doubled = np.frombuffer(response.raw_output_contents[0], dtype="<f4")
        np.testing.assert_array_equal(doubled, np.arange(6, dtype=np.float32) * 2)


def test_an_unknown_method_is_unimplemented_in_grpcios_words(servers: Servers) -> None:
    ours, reference = both(servers, path=f"/{messages.SERVICE}/Nope", body=grpc_frame(b""))
    assert ours.grpc_status == reference.grpc_status == grpc.StatusCode.UNIMPLEMENTED.value[0]
    assert ours.grpc_message == reference.grpc_message == "Method not found!"


def test_padded_data_frames_are_read(servers: Servers) -> None:
    """RFC 9113 allows padding on DATA; grpc C-core's server resets such a stream (PROTOCOL_ERROR),
    Shipyard reads it."""
    client = RawClient(servers.shipyard)
    try:
        answer = client.answer(client.request(body=grpc_frame(infer_message()), pad=17))
    finally:
        client.close()
    assert answer.grpc_status == 0 and answer.reset is None


def test_what_is_not_a_grpc_call_gets_an_http_status(servers: Servers) -> None:
    client = RawClient(servers.shipyard)
    wrong_type = client.answer(client.request(body=b"{}", content_type="application/json"))
    assert wrong_type.headers[":status"] == "415" and b"application/grpc" in wrong_type.data
    client.close()

    with socket.create_connection(("127.0.0.1", servers.shipyard), timeout=10) as plain:
        plain.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = plain.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400 ") and b"serves gRPC" in reply


def test_one_connection_survives_resets_pings_and_split_header_blocks(servers: Servers) -> None:
    client = RawClient(servers.shipyard)
    try:
        half = client.request(body=grpc_frame(infer_message())[:7], end=False)  # the client gives up halfway
        client.h2.reset_stream(half)
        client.h2.ping(b"12345678")
        client.flush()
        # headers over the default 16 KiB frame: h2 sends HEADERS + CONTINUATION
        big = client.request(body=grpc_frame(infer_message()), extra=(("x-filler", "f" * 7000),
                                                                      ("x-filler-2", "g" * 7000),
                                                                      ("x-filler-3", "h" * 7000)))
        answer = client.answer(big)
        assert answer.pings == [b"12345678"]
        # 21 KB of metadata is over this server's 8 KiB limit: refused, and said so
        assert answer.grpc_status == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
        assert "SHIPYARD_MAX_HEADER_BYTES" in answer.grpc_message
        after = client.answer(client.request(body=grpc_frame(infer_message())))
        assert after.grpc_status == 0 and after.goaway is None
    finally:
        client.close()


def test_a_large_answer_waits_for_the_clients_window(servers: Servers) -> None:
    """The client allows 1 KiB per stream; a 1.2 MB answer still arrives whole, in order."""
    rows = 100_000
    client = RawClient(servers.shipyard, {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1024})
    try:
        answer = client.answer(client.request(body=grpc_frame(infer_message(rows))), timeout=30)
    finally:
        client.close()
    assert answer.grpc_status == 0
    response = messages.ModelInferResponse.FromString(answer.data[5:])
    np.testing.assert_array_equal(np.frombuffer(response.raw_output_contents[0], dtype="<f4"),
                                  np.arange(rows * 3, dtype=np.float32) * 2)


def test_grpc_timeout_is_read_and_a_malformed_one_refused(servers: Servers) -> None:
    ok, _ = both(servers, body=grpc_frame(infer_message()), extra=(("grpc-timeout", "5S"),))
    assert ok.grpc_status == 0
    bad = RawClient(servers.shipyard)
    try:
        answer = bad.answer(bad.request(body=grpc_frame(infer_message()), extra=(("grpc-timeout", "soon"),)))
    finally:
        bad.close()
    assert answer.grpc_status == grpc.StatusCode.INTERNAL.value[0] and "grpc-timeout" in answer.grpc_message


# -- the real grpc client -------------------------------------------------------------------------
def _infer_call(channel: grpc.Channel) -> Any:
    return channel.unary_unary(INFER, request_serializer=messages.ModelInferRequest.SerializeToString,
                               response_deserializer=messages.ModelInferResponse.FromString)


def test_large_tensors_both_ways_under_grpcs_default_windows(servers: Servers) -> None:
    """30 MB in and 30 MB out with BDP probing off, so the windows stay at 64 KiB and every
    byte of the answer waits for the client's WINDOW_UPDATEs."""
    rows = 2_500_000
    x = np.random.default_rng(0).random((rows, 3), dtype=np.float32)
    request = infer_request(x)
    options = [("grpc.http2.bdp_probe", 0), ("grpc.max_receive_message_length", -1)]
    with grpc.insecure_channel(f"127.0.0.1:{servers.shipyard}", options=options) as channel:
        response = _infer_call(channel)(request, timeout=60, compression=grpc.Compression.Gzip)
    np.testing.assert_array_equal(np.frombuffer(response.raw_output_contents[0], dtype="<f4").reshape(rows, 3), x * 2)


def test_many_calls_in_flight_on_one_channel(servers: Servers) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{servers.shipyard}") as channel:
        call = _infer_call(channel)
        futures = []
        for rows in range(1, 301):
            request = infer_request(np.full((rows, 3), rows, dtype=np.float32), id=str(rows))
            futures.append(call.future(request, timeout=30))
        for rows, future in enumerate(futures, start=1):
            response = future.result()
            assert response.id == str(rows)
            assert np.frombuffer(response.raw_output_contents[0], dtype="<f4").tolist() == [2.0 * rows] * (rows * 3)


def test_stop_answers_the_calls_in_flight_then_goes_away(tmp_path: Path) -> None:
    """Graceful stop: a call whose message is still on its way when the server stops is answered
    (GOAWAY names it as processed), then the connection closes and new calls are refused."""
    write_onnx_model(tmp_path / "model")
    settings = RuntimeSettings(model_dir=tmp_path / "model", model_name="tiny", entry_script=None)
    message_sent = threading.Event()

    def slow_request() -> Iterator[Any]:  # the call starts (HEADERS) now, its message comes later
        time.sleep(0.5)
        message_sent.set()
        yield infer_request(np.ones((1, 3), dtype=np.float32))

    def call_during_stop(port: int) -> Any:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.stream_unary(INFER, request_serializer=messages.ModelInferRequest.SerializeToString,
                                        response_deserializer=messages.ModelInferResponse.FromString)
            return call(slow_request(), timeout=10)

    async def scenario() -> tuple[Any, float]:
        metrics = Metrics("tiny")
        dataplane = DataPlane(settings, observe_model_time=metrics.observe_model)
        await dataplane.load()
        service = InferenceService(dataplane, auth=ApiKeyAuth([]), metrics=metrics, access_log=None)
        port = free_port()
        server = await start_grpc_server(service, host="127.0.0.1", port=port, max_message_bytes=1 << 20,
                                         max_header_bytes=8192, shared_port=False)
        in_flight = asyncio.create_task(asyncio.to_thread(call_during_stop, port))
        while not server.connections:  # the call has connected
            await asyncio.sleep(0.01)
        assert not message_sent.is_set()
        began = time.perf_counter()
        await server.stop(5)
        return await in_flight, time.perf_counter() - began

    response, stop_seconds = asyncio.run(scenario())
    assert np.frombuffer(response.raw_output_contents[0], dtype="<f4").tolist() == [2.0, 2.0, 2.0]
    assert stop_seconds < 5  # it returned once the call was answered, not at the grace period's end


def test_a_connection_that_never_speaks_http2_is_closed_after_the_header_timeout(tmp_path: Path) -> None:
    write_onnx_model(tmp_path / "model")

    async def scenario() -> tuple[bytes, float]:
        dataplane = DataPlane(RuntimeSettings(model_dir=tmp_path / "model", entry_script=None))
        await dataplane.load()
        service = InferenceService(dataplane, auth=ApiKeyAuth([]), metrics=Metrics("m"), access_log=None)
        port = free_port()
        server = await start_grpc_server(service, host="127.0.0.1", port=port, max_message_bytes=1 << 20,
                                         max_header_bytes=8192, shared_port=False, preface_timeout_s=0.3)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        began = time.perf_counter()
        writer.write(b"PRI * HTTP/2.0")  # half a preface, then silence
        data = await asyncio.wait_for(reader.read(), timeout=10)  # b"" once the server closes
        closed_after = time.perf_counter() - began
        writer.close()
        await server.stop(1)
        return data, closed_after

    data, closed_after = asyncio.run(scenario())
    assert data == b"" and 0.25 < closed_after < 5
