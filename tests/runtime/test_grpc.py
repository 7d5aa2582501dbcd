"""The Open Inference Protocol over gRPC, with the real ``tritonclient.grpc`` against a real server.

The server is ``python -m shipyard.runtime`` with ``SHIPYARD_GRPC_PORT`` set, serving the same tiny
ONNX model as the HTTP V2 tests, so the two protocols can be compared on the same inputs.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from shipyard.runtime.oip_grpc import messages
from tests.fixtures.servers import SCRIPTS, RunningServer, free_port, start_server
from tests.runtime.conftest import write_onnx_model

KEY = "grpc-test-key"
AUTH = {"authorization": f"Bearer {KEY}"}
X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)
H = np.array([0.5, -2.0], dtype=np.float16)
T = np.array([b"hello", "wörld".encode()], dtype=object)


@dataclass
class GrpcServer(RunningServer):
    """A runtime started with ``SHIPYARD_GRPC_PORT``: HTTP on ``port``, gRPC on ``grpc_port``."""

    grpc_port: int = 0

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


def _start(root: Path, *, env: dict[str, str], **kwargs: object) -> GrpcServer:
    grpc_port = free_port()
    http = start_server(root, env={**env, "SHIPYARD_GRPC_PORT": str(grpc_port)}, **kwargs)  # type: ignore[arg-type]
    return GrpcServer(process=http.process, port=http.port, log_path=http.log_path, grpc_port=grpc_port)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrpcServer]:
    """The tiny ONNX model as ``tiny`` version 2, two workers, API key on, gRPC on a free port."""
    root = tmp_path_factory.mktemp("grpc")
    write_onnx_model(root / "model")
    running = _start(root, model_dir=root / "model", env={
        "SHIPYARD_MODEL_NAME": "tiny", "SHIPYARD_MODEL_VERSION": "2", "SHIPYARD_API_KEYS": KEY,
        "SHIPYARD_WORKERS": "2",
    })  # fmt: skip
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server: GrpcServer) -> Iterator[triton_grpc.InferenceServerClient]:
    with triton_grpc.InferenceServerClient(server.grpc_address) as grpc_client:
        yield grpc_client


def _inputs() -> list[triton_grpc.InferInput]:
    inputs = []
    for name, array, datatype in (("x", X, "FP32"), ("h", H, "FP16"), ("t", T, "BYTES")):
        tensor = triton_grpc.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def test_health_is_open_and_metadata_needs_the_key(client: triton_grpc.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    with pytest.raises(InferenceServerException, match="API key") as denied:
        client.get_model_metadata("tiny")
    assert denied.value.status() == "StatusCode.UNAUTHENTICATED"
    with pytest.raises(InferenceServerException, match="not valid"):
        client.get_server_metadata(headers={"authorization": "Bearer wrong"})

    metadata = client.get_model_metadata("tiny", headers=AUTH, as_json=True)
    assert metadata["name"] == "tiny" and metadata["versions"] == ["2"]
    assert metadata["platform"] == "onnxruntime_onnx"
    assert {"name": "x", "datatype": "FP32", "shape": ["-1", "3"]} in metadata["inputs"]
    assert client.is_model_ready("tiny", headers=AUTH)
    assert client.is_model_ready("tiny", "2", headers=AUTH)
    assert "binary_tensor_data" in client.get_server_metadata(headers=AUTH, as_json=True)["extensions"]
    with pytest.raises(InferenceServerException, match="unknown version '7'") as unknown:
        client.is_model_ready("tiny", "7", headers=AUTH)
    assert unknown.value.status() == "StatusCode.NOT_FOUND"


def test_tritonclient_infer_matches_http(client: triton_grpc.InferenceServerClient, server: GrpcServer) -> None:
    result = client.infer("tiny", _inputs(), request_id="r-7", headers=AUTH)
    assert result.get_response().id == "r-7"
    np.testing.assert_allclose(result.as_numpy("doubled"), X * 2)
    np.testing.assert_allclose(result.as_numpy("total"), X.sum(axis=1))
    half = result.as_numpy("h_out")
    assert half.dtype == np.float16 and half.tolist() == H.tolist()
    assert result.as_numpy("t_out").tolist() == T.tolist()

    http_client = triton_http.InferenceServerClient(server.address)
    http_inputs = []
    for name, array, datatype in (("x", X, "FP32"), ("h", H, "FP16"), ("t", T, "BYTES")):
        tensor = triton_http.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        http_inputs.append(tensor)
    over_http = http_client.infer("tiny", http_inputs, headers=dict(AUTH))  # it adds its own headers to the dict
    for output in ("doubled", "total", "h_out", "t_out"):
        assert over_http.as_numpy(output).tolist() == result.as_numpy(output).tolist()


def test_requested_outputs_only(client: triton_grpc.InferenceServerClient) -> None:
    result = client.infer("tiny", _inputs(), outputs=[triton_grpc.InferRequestedOutput("total")], headers=AUTH)
    assert [output.name for output in result.get_response().outputs] == ["total"]
    assert result.as_numpy("doubled") is None


def _raw_call(server: GrpcServer, method: str, request: object, metadata: tuple = ()) -> tuple[object, dict]:
    """Call one RPC with Shipyard's own message classes; the response and the initial metadata."""
    request_class, response_class = messages.METHODS[method]
    with grpc.insecure_channel(server.grpc_address) as channel:
        call = channel.unary_unary(f"/{messages.SERVICE}/{method}", request_serializer=request_class.SerializeToString,
                                   response_deserializer=response_class.FromString)
        response, rendezvous = call.with_call(request, metadata=metadata, timeout=10)
        return response, dict(rendezvous.initial_metadata())


def _raw_request() -> object:
    """The tiny model's three inputs as raw contents, built with Shipyard's message classes."""
    request = messages.ModelInferRequest(model_name="tiny")
    for name, array, datatype in (("x", X, "FP32"), ("h", H, "FP16")):
        request.inputs.add(name=name, datatype=datatype, shape=array.shape)
        request.raw_input_contents.append(array.astype(array.dtype.newbyteorder("<")).tobytes())
    request.inputs.add(name="t", datatype="BYTES", shape=[1])
    request.raw_input_contents.append(len(b"raw").to_bytes(4, "little") + b"raw")
    return request


def test_request_ids_travel_in_metadata(server: GrpcServer) -> None:
    response, initial = _raw_call(server, "ModelInfer", _raw_request(),
                                  (*AUTH.items(), ("x-request-id", "trace-me"), ("x-ms-client-request-id", "c-1")))
    assert initial["x-request-id"] == "trace-me" and initial["x-ms-client-request-id"] == "c-1"
    names = [output.name for output in response.outputs]
    doubled = np.frombuffer(response.raw_output_contents[names.index("doubled")], dtype="<f4").reshape(2, 3)
    np.testing.assert_allclose(doubled, X * 2)
    assert list(response.outputs[names.index("t_out")].shape) == [1]

    _, made = _raw_call(server, "ServerLive", messages.ServerLiveRequest())
    assert len(made["x-request-id"]) == 36  # a new UUID when the client sent none


def test_fp16_needs_raw_contents(server: GrpcServer) -> None:
    request = messages.ModelInferRequest(model_name="tiny")
    request.inputs.add(name="h", datatype="FP16", shape=[2]).contents.fp32_contents.extend([0.5, -2.0])
    with pytest.raises(grpc.RpcError) as fp16:
        _raw_call(server, "ModelInfer", request, (*AUTH.items(),))
    assert fp16.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "FP16 tensors must be sent as raw_input_contents" in fp16.value.details()


@pytest.mark.parametrize(
    ("build", "code", "message"),
    [
        (lambda r: r.inputs.add(name="x", datatype="FP99", shape=[1]), "INVALID_ARGUMENT", "datatype 'FP99'"),
        (lambda r: r.inputs.add(name="x", datatype="FP32", shape=[1] * 65), "INVALID_ARGUMENT", "at most 64"),
        (lambda r: r.inputs.add(name="x", datatype="FP32", shape=[0, 2**62, 2**62]), "INVALID_ARGUMENT", "too large for any array"),
        (lambda r: r.inputs.add(name="x", datatype="FP32", shape=[-1, 3]), "INVALID_ARGUMENT", "negative dimension"),
        (lambda r: (r.inputs.add(name="x", datatype="FP32", shape=[1, 3]), r.raw_input_contents.append(b"123")),
         "INVALID_ARGUMENT", "needs 12 bytes"),
        (lambda r: (r.inputs.add(name="x", datatype="FP32", shape=[1, 3]), r.inputs.add(name="t", datatype="BYTES",
                    shape=[1]), r.raw_input_contents.append(b"x" * 12)), "INVALID_ARGUMENT", "2 inputs"),
        (lambda r: None, "INVALID_ARGUMENT", "at least one input"),
        (lambda r: setattr(r, "model_name", "other"), "NOT_FOUND", "unknown model 'other'"),
    ],
    ids=["datatype", "dimensions", "huge-shape", "negative-dimension", "raw-size", "raw-count", "no-inputs", "unknown-model"],
)
def test_client_mistakes_are_clear_errors(server: GrpcServer, build, code: str, message: str) -> None:
    request = messages.ModelInferRequest(model_name="tiny")
    build(request)
    if request.model_name == "other":
        request.inputs.add(name="x", datatype="FP32", shape=[1, 3]).contents.fp32_contents.extend([1, 2, 3])
    with pytest.raises(grpc.RpcError) as failed:
        _raw_call(server, "ModelInfer", request, (*AUTH.items(),))
    assert failed.value.code() == getattr(grpc.StatusCode, code)
    assert message in failed.value.details()


def test_health_service_and_metrics(server: GrpcServer) -> None:
    with grpc.insecure_channel(server.grpc_address) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=messages.HealthCheckRequest.SerializeToString,
                                    response_deserializer=messages.HealthCheckResponse.FromString)
        assert check(messages.HealthCheckRequest(), timeout=10).status == 1  # SERVING
        assert check(messages.HealthCheckRequest(service=messages.SERVICE), timeout=10).status == 1
        with pytest.raises(grpc.RpcError) as unknown:
            check(messages.HealthCheckRequest(service="nope"), timeout=10)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

    text = ""
    for _ in range(40):  # workers hand their tallies to prometheus-client every few seconds
        text = httpx.get(server.url + "/metrics", timeout=5).text
        if 'route="/inference.GRPCInferenceService/ModelInfer"' in text:
            break
        time.sleep(0.25)
    assert 'method="GRPC"' in text and 'route="/inference.GRPCInferenceService/ModelInfer"' in text


def test_entry_script_over_grpc_raw_and_typed_contents(tmp_path: Path) -> None:
    """A plain Azure score.py answers gRPC infer (the V2 convention for entry scripts), whether the
    client sends raw contents (tritonclient) or typed ``contents`` fields."""
    (tmp_path / "model").mkdir()
    running = _start(tmp_path, model_dir=tmp_path / "model", entry_script=SCRIPTS / "v2_sum_score.py", env={})
    try:
        with triton_grpc.InferenceServerClient(running.grpc_address) as client:
            data = triton_grpc.InferInput("data", [2, 2], "FP64")
            data.set_data_from_numpy(np.array([[1.0, 2.0], [3.0, 4.0]]))
            assert client.infer("model", [data]).as_numpy("row_sum").tolist() == [3.0, 7.0]

        typed = messages.ModelInferRequest(model_name="model")
        typed.inputs.add(name="data", datatype="FP64", shape=[1, 3]).contents.fp64_contents.extend([1.0, 2.0, 4.5])
        response, _ = _raw_call(running, "ModelInfer", typed)
        names = [output.name for output in response.outputs]
        assert np.frombuffer(response.raw_output_contents[names.index("row_sum")], dtype="<f8").tolist() == [7.5]

        short = messages.ModelInferRequest(model_name="model")
        short.inputs.add(name="data", datatype="INT32", shape=[2]).contents.int_contents.extend([1])
        with pytest.raises(grpc.RpcError) as mismatch:
            _raw_call(running, "ModelInfer", short)
        assert "needs 2 values, contents.int_contents has 1" in mismatch.value.details()
    finally:
        running.stop()


def test_a_taken_grpc_port_stops_the_server_with_a_clear_message(tmp_path: Path) -> None:
    write_onnx_model(tmp_path / "model")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        running = start_server(tmp_path, model_dir=tmp_path / "model", wait=False,
                               env={"SHIPYARD_GRPC_PORT": str(taken)})
        assert running.wait_exit() != 0
    assert f"cannot listen on 127.0.0.1:{taken}" in running.log()
    assert "--grpc-port" in running.log()


def test_descriptor_matches_the_proto_files() -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools compiles the .proto files")
    check = subprocess.run([sys.executable, "-m", "shipyard.runtime.oip_grpc.regenerate", "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
