"""Every V2 client mistake is a 400 that names it, and one line in the log, never a traceback.

Each body below once made the runtime answer 500 and log a 35-line traceback (issue #14); the
decoder fuzz tests (``test_v2codec_fuzz.py``) look for more.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.fixtures.servers import RunningServer

X = {"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}


def _nested(depth: int, leaf: bytes = b"1") -> bytes:
    return b"[" * depth + leaf + b"]" * depth


MISTAKES = {
    "json-nested-1100-levels-in-data": (
        b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": ' + _nested(1100) + b"}]}",
        "not a regular array"),
    "json-nested-5000-levels-in-inputs": (b'{"inputs": ' + _nested(5000, b"") + b"}", "inputs[0] needs a string 'name'"),
    "json-nested-5000-levels-in-id": (
        b'{"id": ' + _nested(5000) + b', "inputs": [' + json.dumps(X).encode() + b"]}", "'id' must be a string"),
    # NaN (which json.dumps writes) sends the body to the stdlib parser, which gives up near 1,000 levels.
    "json-nested-1100-levels-with-a-nan": (
        b'{"parameters": {"a": ' + _nested(1100, b"NaN") + b'}, "inputs": [' + json.dumps(X).encode() + b"]}",
        "nested too deeply"),
    "zero-next-to-a-huge-dimension": (
        json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [0, 2**62], "data": []}]}).encode(),
        "is too large for any array"),
    "65-dimensions": (
        json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1] * 65, "data": [1]}]}).encode(),
        "at most 64 are supported"),
    "a-lone-surrogate-in-bytes": (
        b'{"inputs": [{"name": "t", "datatype": "BYTES", "shape": [1], "data": ["\\ud800"]}]}',
        "is not valid Unicode text"),
    "datatype-not-a-string": (
        json.dumps({"inputs": [{"name": "x", "datatype": ["FP32"], "shape": [1], "data": [1]}]}).encode(),
        "is not supported"),
}


@pytest.mark.parametrize("body, named", MISTAKES.values(), ids=MISTAKES.keys())
def test_a_v2_client_mistake_is_a_400_naming_it(onnx_server: RunningServer, body: bytes, named: str) -> None:
    response = httpx.post(onnx_server.url + "/v2/models/tiny/infer", content=body,
                          headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 400, response.text
    assert named in response.json()["error"]


def test_client_mistakes_leave_one_log_line_each_and_no_traceback(onnx_server: RunningServer) -> None:
    for body, _ in MISTAKES.values():
        httpx.post(onnx_server.url + "/v2/models/tiny/infer", content=body, timeout=30)
    assert httpx.get(onnx_server.url + "/v2/health/ready").status_code == 200
    log = onnx_server.log()
    assert "Traceback" not in log
    assert log.count("is not supported") >= 1  # the reason is in the log, on the request's one line
