"""The Open Inference Protocol over real HTTP, with the real tritonclient and with plain JSON."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.fixtures.servers import RunningServer

X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)
H = np.array([0.5, -2.0], dtype=np.float16)
T = np.array([b"hello", "wörld".encode()], dtype=object)


def _inputs(binary: bool) -> list[triton.InferInput]:
    inputs = []
    for name, array, datatype in (("x", X, "FP32"), ("h", H, "FP16"), ("t", T, "BYTES")):
        tensor = triton.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    return inputs


@pytest.fixture(scope="module")
def client(onnx_server: RunningServer) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(onnx_server.address)


def test_tritonclient_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("tiny")
    assert client.is_model_ready("tiny", "2")
    assert not client.is_model_ready("tiny", "7")
    assert not client.is_model_ready("other")
    metadata = client.get_model_metadata("tiny")
    assert metadata["name"] == "tiny" and metadata["versions"] == ["2"]
    assert metadata["platform"] == "onnxruntime_onnx"
    assert {"name": "x", "datatype": "FP32", "shape": [-1, 3]} in metadata["inputs"]
    assert {spec["name"] for spec in metadata["outputs"]} == {"doubled", "total", "h_out", "t_out"}
    server = client.get_server_metadata()
    assert "binary_tensor_data" in server["extensions"]


@pytest.mark.parametrize("binary_inputs", [True, False], ids=["binary-inputs", "json-inputs"])
@pytest.mark.parametrize("binary_outputs", [True, False, None], ids=["binary-out", "json-out", "default-out"])
def test_tritonclient_infer(client: triton.InferenceServerClient, binary_inputs: bool, binary_outputs: bool | None) -> None:
    outputs = None
    if binary_outputs is not None:
        outputs = [triton.InferRequestedOutput(name, binary_data=binary_outputs)
                   for name in ("doubled", "total", "h_out", "t_out")]
    result = client.infer("tiny", _inputs(binary_inputs), outputs=outputs, request_id="r-42")
    assert result.get_response()["id"] == "r-42"
    np.testing.assert_allclose(result.as_numpy("doubled"), X * 2)
    np.testing.assert_allclose(result.as_numpy("total"), X.sum(axis=1))
    half = result.as_numpy("h_out")
    assert half.dtype == np.float16 and half.tolist() == H.tolist()
    assert [bytes(v) if not isinstance(v, str) else v.encode() for v in result.as_numpy("t_out")] == T.tolist()
    sent_binary = {o["name"]: "binary_data_size" in o.get("parameters", {}) for o in result.get_response()["outputs"]}
    assert all(sent_binary.values()) if binary_outputs in (True, None) else not any(sent_binary.values())


def test_tritonclient_asking_for_some_outputs_gets_only_those(client: triton.InferenceServerClient) -> None:
    result = client.infer("tiny", _inputs(True), outputs=[triton.InferRequestedOutput("total")], model_version="2")
    assert [o["name"] for o in result.get_response()["outputs"]] == ["total"]


def test_tritonclient_errors_carry_the_servers_message(client: triton.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException, match="unknown model 'nope'"):
        client.get_model_metadata("nope")
    with pytest.raises(InferenceServerException, match="unknown version '3' of model 'tiny'"):
        client.infer("tiny", _inputs(True), model_version="3")
    wrong = triton.InferInput("x", [2, 3], "FP64")
    wrong.set_data_from_numpy(X.astype(np.float64))
    with pytest.raises(InferenceServerException, match="input 'x' has datatype FP64 but the model expects FP32"):
        client.infer("tiny", [wrong, *_inputs(True)[1:]])


def test_plain_json_infer_with_nested_data(onnx_server: RunningServer) -> None:
    body = {
        "id": "plain",
        "inputs": [
            {"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [[1, 2, 3]]},
            {"name": "h", "shape": [1], "datatype": "FP16", "data": [1.5]},
            {"name": "t", "shape": [1], "datatype": "BYTES", "data": ["abc"]},
        ],
        "outputs": [{"name": "total"}, {"name": "t_out"}],
    }
    response = httpx.post(f"{onnx_server.url}/v2/models/tiny/versions/2/infer", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["model_name"] == "tiny" and document["model_version"] == "2" and document["id"] == "plain"
    assert document["outputs"] == [
        {"name": "total", "datatype": "FP32", "shape": [1], "data": [6.0]},
        {"name": "t_out", "datatype": "BYTES", "shape": [1], "data": ["abc"]},
    ]


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v2/models/nope/infer", {"inputs": []}, 404, "unknown model 'nope'; this server serves 'tiny'"),
        ("/v2/models/tiny/infer", b"{not json", 400, "not valid JSON"),
        ("/v2/models/tiny/infer", {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]},
         400, "input 'x' has shape [1, 4] but the model expects [-1, 3]"),
        ("/v2/models/tiny/infer", {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2]}]},
         400, "input 'x': shape [2, 3] needs 6 values, 'data' has 2"),
        ("/v2/models/tiny/infer", {"inputs": [{"name": "y", "shape": [1], "datatype": "FP32", "data": [1]}]},
         400, "unknown input 'y'"),
        ("/v2/models/tiny/infer", {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}],
                                   "outputs": [{"name": "bogus"}]}, 400, "unknown output 'bogus'"),
    ],
)
def test_bad_infer_requests_get_json_errors(onnx_server: RunningServer, path: str, body: object, status: int,
                                            message: str) -> None:
    content = body if isinstance(body, bytes) else None
    response = httpx.post(onnx_server.url + path, content=content, json=None if content else body)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_server_metadata_and_health_routes(onnx_server: RunningServer) -> None:
    assert httpx.get(onnx_server.url + "/v2").json() == {
        "name": "shipyard", "version": __import__("shipyard").__version__, "extensions": ["binary_tensor_data"],
    }
    assert httpx.get(onnx_server.url + "/v2/health/live").json() == {"live": True}
    assert httpx.get(onnx_server.url + "/v2/health/ready").json() == {"ready": True}
    assert httpx.get(onnx_server.url + "/v2/models/tiny/versions/2").json()["versions"] == ["2"]
    missing = httpx.get(onnx_server.url + "/v2/models/tiny/versions/9")
    assert missing.status_code == 404 and "unknown version '9'" in missing.json()["error"]
    assert httpx.get(onnx_server.url + "/v2/models/tiny/ready").json() == {"name": "tiny", "ready": True}


def test_gzip_compressed_requests_are_accepted(onnx_server: RunningServer) -> None:
    client = triton.InferenceServerClient(onnx_server.address)
    result = client.infer("tiny", _inputs(True), request_compression_algorithm="gzip")
    np.testing.assert_allclose(result.as_numpy("doubled"), X * 2)


def test_a_model_without_swagger_answers_404_json(onnx_server: RunningServer) -> None:
    response = httpx.get(onnx_server.url + "/swagger.json")
    assert response.status_code == 404 and "has no swagger document" in response.json()["message"]


def test_tritonclient_against_an_azure_entry_script(module_runtime) -> None:  # type: ignore[no-untyped-def]
    server = module_runtime("v2_sum_score.py", env={"SHIPYARD_MODEL_NAME": "summer"})
    client = triton.InferenceServerClient(server.address)
    assert client.is_model_ready("summer")
    rows = triton.InferInput("rows", [2, 2], "FP64")
    rows.set_data_from_numpy(np.array([[1.0, 2.0], [3.0, 4.5]]))  # run() reads json.loads(raw)["data"]
    result = client.infer("summer", [rows])
    assert result.as_numpy("row_sum").tolist() == [3.0, 7.5]
