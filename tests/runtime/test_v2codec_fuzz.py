"""Hypothesis against the V2 decoder: whatever a client sends, it is a request or a 400 naming the mistake.

Never another exception (the runtime would answer 500 with a traceback in the log), and never the
decoder's catch-all message either: that one exists so a mistake nobody foresaw is still a 400,
but each mistake these strategies find deserves a check of its own that says what was wrong.
"""

from __future__ import annotations

import json
import struct

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shipyard.errors import BadRequestError
from shipyard.runtime import v2codec
from shipyard.scoring.datatypes import WIRE_DTYPES

FUZZ = settings(max_examples=300, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
dimensions = st.integers(-1, 4) | st.sampled_from([0, 2**31, 2**62, 2**63 - 1, 2**64])
shapes = st.lists(dimensions, max_size=3) | st.lists(st.just(1), min_size=60, max_size=70) | json_values
datatypes = st.sampled_from(sorted(WIRE_DTYPES)) | st.text(max_size=5) | json_values
nested_numbers = st.recursive(
    st.integers(-(2**65), 2**65) | st.floats() | st.booleans() | st.text(max_size=3) | st.none(),
    lambda children: st.lists(children, max_size=4),
    max_leaves=16,
)


@st.composite
def tensors(draw: st.DrawFn) -> dict:
    tensor: dict = {"name": draw(st.text(max_size=4) | json_values), "datatype": draw(datatypes),
                    "shape": draw(shapes)}
    if draw(st.booleans()):
        tensor["data"] = draw(nested_numbers | json_values)
    if draw(st.booleans()):
        size = draw(st.integers(-2, 64) | json_values)
        tensor["parameters"] = {"binary_data_size": size} if draw(st.booleans()) else draw(json_values)
    return tensor


@st.composite
def infer_bodies(draw: st.DrawFn) -> tuple[bytes, int | None]:
    document: dict = {"inputs": draw(st.lists(tensors(), max_size=3) | json_values)}
    for key in ("id", "parameters", "outputs"):
        if draw(st.booleans()):
            document[key] = draw(json_values)
    header = json.dumps(document).encode()
    binary = draw(st.binary(max_size=64))
    if not binary and draw(st.booleans()):
        return header, None
    header_length = draw(st.sampled_from([len(header)]) | st.integers(-1, len(header) + len(binary) + 1))
    return header + binary, header_length


def assert_decodes_or_names_the_mistake(body: bytes, header_length: int | None) -> None:
    try:
        request, wants_binary = v2codec.decode_request(body, header_length)
    except BadRequestError as exc:
        assert not str(exc).startswith(v2codec.UNDECODABLE), f"no check names this mistake: {exc} ({body[:300]!r})"
        assert len(str(exc)) < 1000, "error messages quote the client's input only briefly"
        return
    for tensor in request.inputs:
        assert isinstance(tensor.data, np.ndarray)
    assert isinstance(wants_binary("anything"), bool)


@FUZZ
@given(infer_bodies())
@example((b'{"inputs": ' + b"[" * 1100 + b"]" * 1100 + b"}", None))
@example((json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [0, 2**62], "data": []}]}).encode(), None))
@example((json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1] * 65, "data": [1]}]}).encode(), None))
@example((b'{"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1], "data": ["\\ud800"]}]}', None))
@example((b'{"id": ' + b"[" * 5000 + b"]" * 5000 + b', "inputs": []}', None))
def test_any_v2_shaped_body_decodes_or_is_a_400_naming_the_mistake(case: tuple[bytes, int | None]) -> None:
    assert_decodes_or_names_the_mistake(*case)


@FUZZ
@given(st.binary(max_size=200), st.none() | st.integers(-2, 210))
def test_any_bytes_decode_or_are_a_400_naming_the_mistake(body: bytes, header_length: int | None) -> None:
    assert_decodes_or_names_the_mistake(body, header_length)


@FUZZ
@given(st.lists(st.binary(max_size=8), max_size=5), st.binary(max_size=6), st.integers(0, 6))
def test_binary_bytes_tensors_with_any_length_prefixes(items: list[bytes], junk: bytes, count: int) -> None:
    raw = b"".join(struct.pack("<I", len(item)) + item for item in items) + junk
    header = json.dumps({"inputs": [{"name": "t", "datatype": "BYTES", "shape": [count],
                                     "parameters": {"binary_data_size": len(raw)}}]}).encode()
    assert_decodes_or_names_the_mistake(header + raw, len(header))
