"""The V2 wire format, without a server: JSON and binary tensors both ways, and client mistakes."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from shipyard.errors import BadRequestError
from shipyard.runtime import v2codec
from shipyard.scoring import json_codec
from shipyard.scoring.base import InferResponse, InferTensor


def _request(*inputs: dict, **extra: object) -> bytes:
    return json_codec.dumps({"inputs": list(inputs), **extra})


def test_json_inputs_flat_or_nested_become_shaped_arrays() -> None:
    body = _request(
        {"name": "flat", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]},
        {"name": "nested", "shape": [2, 2], "datatype": "INT64", "data": [[1, 2], [3, 4]]},
        {"name": "half", "shape": [2], "datatype": "FP16", "data": [0.5, 1.5]},
        {"name": "flags", "shape": [2], "datatype": "BOOL", "data": [True, False]},
        {"name": "text", "shape": [2], "datatype": "BYTES", "data": ["a", "ü"]},
    )
    request, _ = v2codec.decode_request(body, None)
    flat, nested, half, flags, text = (tensor.data for tensor in request.inputs)
    assert flat.dtype == np.float32 and flat.tolist() == [[1, 2], [3, 4]]
    assert nested.dtype == np.int64 and nested.shape == (2, 2)
    assert half.dtype == np.float16 and half.tolist() == [0.5, 1.5]
    assert flags.dtype == np.bool_ and flags.tolist() == [True, False]
    assert text.tolist() == [b"a", "ü".encode()]


def test_binary_inputs_are_sliced_in_order_without_copying() -> None:
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    words = [b"one", b""]
    packed_words = b"".join(struct.pack("<I", len(w)) + w for w in words)
    header = _request(
        {"name": "x", "shape": [2, 3], "datatype": "FP32", "parameters": {"binary_data_size": values.nbytes}},
        {"name": "w", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": len(packed_words)}},
    )
    body = bytearray(header + values.tobytes() + packed_words)
    request, _ = v2codec.decode_request(body, len(header))
    x, w = request.inputs
    assert np.array_equal(x.data, values) and x.data.flags.writeable
    assert np.shares_memory(x.data, np.frombuffer(body, dtype=np.uint8))  # a view of the body: zero-copy
    assert x.parameters == {}  # the transport detail is not passed to the model
    assert w.data.tolist() == words
    request, _ = v2codec.decode_request(bytes(body), len(header))  # what the server reads: immutable bytes
    assert not request.inputs[0].data.flags.writeable  # so a view is read-only; scorers that write copy


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        ({"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3]}, "input 'x': shape [2, 2] needs 4"),
        ({"name": "x", "shape": [2], "datatype": "INT32", "data": [1.5, 2]}, "input 'x': 'data' holds floating"),
        ({"name": "x", "shape": [1], "datatype": "UINT8", "data": [300]}, "input 'x': a value is out of range"),
        ({"name": "x", "shape": [1], "datatype": "FP99", "data": [1]}, "input 'x': datatype 'FP99' is not supported"),
        ({"name": "x", "shape": [2], "datatype": "FP32", "data": [[1], [2, 3]]}, "input 'x': 'data' is not a regular"),
        ({"name": "x", "shape": "2", "datatype": "FP32", "data": [1, 2]}, "input 'x': 'shape' must be a list"),
        ({"name": "x", "shape": [1], "datatype": "BYTES", "data": [1]}, "input 'x': BYTES data must be strings"),
        ({"name": "x", "shape": [1], "datatype": "FP32"}, "input 'x' has neither 'data' nor"),
    ],
)
def test_bad_json_tensors_are_400s_naming_the_tensor(tensor: dict, message: str) -> None:
    with pytest.raises(BadRequestError, match=message.replace("[", r"\[").replace("]", r"\]")):
        v2codec.decode_request(_request(tensor), None)


def test_binary_size_mismatches_are_400s() -> None:
    header = _request({"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 4}})
    with pytest.raises(BadRequestError, match="input 'x': shape \\[2\\] of FP32 needs 8 bytes"):
        v2codec.decode_request(header + b"\0" * 4, len(header))
    fitting = _request({"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}})
    with pytest.raises(BadRequestError, match="3 bytes of binary data that no input"):
        v2codec.decode_request(fitting + b"\0" * 11, len(fitting))
    with pytest.raises(BadRequestError, match="Inference-Header-Content-Length is 999"):
        v2codec.decode_request(header, 999)
    with pytest.raises(BadRequestError, match="not valid JSON"):
        v2codec.decode_request(b"{nope", None)


def test_outputs_are_binary_only_where_requested() -> None:
    body = _request(
        {"name": "x", "shape": [1], "datatype": "FP32", "data": [1]},
        outputs=[{"name": "a", "parameters": {"binary_data": True}}, {"name": "b"}],
    )
    request, wants_binary = v2codec.decode_request(body, None)
    assert request.requested_outputs == ["a", "b"]
    assert wants_binary("a") and not wants_binary("b")
    _, everything_binary = v2codec.decode_request(
        _request({"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}, parameters={"binary_data_output": True}),
        None,
    )
    assert everything_binary("anything")


def test_encoded_response_round_trips_through_json_and_binary() -> None:
    response = InferResponse(
        outputs=[
            InferTensor("a", np.array([[1.5, 2.5]], dtype=np.float16)),
            InferTensor("b", np.array([b"x", b"yz"], dtype=object)),
            InferTensor("c", np.array([True, False])),
        ],
        id="req-1",
    )
    body, header_length = v2codec.encode_response(
        response, model_name="m", model_version="1", wants_binary=lambda name: name == "b"
    )
    header = json_codec.loads(body[:header_length])
    assert header["id"] == "req-1" and header["model_name"] == "m"
    a, b, c = header["outputs"]
    assert a == {"name": "a", "datatype": "FP16", "shape": [1, 2], "data": [1.5, 2.5]}
    assert c["data"] == [True, False] and c["datatype"] == "BOOL"
    assert b["parameters"]["binary_data_size"] == len(body) - header_length
    assert body[header_length:] == struct.pack("<I", 1) + b"x" + struct.pack("<I", 2) + b"yz"


def test_outputs_numpy_cannot_carry_are_named() -> None:
    response = InferResponse(outputs=[InferTensor("z", np.array([1 + 2j]))])
    with pytest.raises(Exception, match="output 'z' has numpy dtype complex128"):
        v2codec.encode_response(response, model_name="m", model_version="1", wants_binary=lambda name: False)
