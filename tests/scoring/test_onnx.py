"""A .onnx file is served without an entry script: /score JSON, V2 tensors, metadata, checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from shipyard.errors import BadRequestError  # noqa: E402
from shipyard.scoring import InferRequest, InferTensor, ModelInfo, load_scorer  # noqa: E402
from shipyard.scoring.onnx.scorer import OnnxScorer  # noqa: E402
from tests.scoring.conftest import score_request  # noqa: E402


@pytest.fixture(scope="module")
def iris(iris_model_dir) -> OnnxScorer:
    return load_scorer(ModelInfo(name="iris", version="2", model_dir=iris_model_dir))


@pytest.fixture(scope="module")
def adder(add_model_dir) -> OnnxScorer:
    return load_scorer(ModelInfo(name="add", version="1", model_dir=add_model_dir))


def test_folder_with_one_onnx_file_gets_the_onnx_scorer(iris, adder):
    assert isinstance(iris, OnnxScorer) and isinstance(adder, OnnxScorer)
    assert adder.model_file.name == "add.onnx"  # found in a sub-folder


def test_metadata_comes_from_the_model(iris, adder):
    meta = adder.metadata()
    assert (meta.name, meta.versions, meta.platform) == ("add", ("1",), "onnxruntime_onnx")
    assert [(t.name, t.datatype, t.shape) for t in meta.inputs] == [("x", "FP32", (-1, 3)), ("y", "FP32", (-1, 3))]
    assert [(t.name, t.datatype, t.shape) for t in meta.outputs] == [("sum", "FP32", (-1, 3))]
    assert meta.extra["execution_providers"] == ["CPU"]

    iris_meta = iris.metadata()
    assert [(t.name, t.datatype, t.shape) for t in iris_meta.inputs] == [("X", "FP32", (-1, 4))]
    outputs = [(t.name, t.datatype) for t in iris_meta.outputs]
    assert outputs == [("output_label", "INT64"), ("output_probability", "FP32")]
    assert iris_meta.extra["zipmap_outputs"] == ["output_probability"]


@pytest.mark.parametrize("body", [
    {"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]},
    {"inputs": {"X": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}},
    {"X": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]},
])
def test_score_accepts_azure_and_named_json_and_returns_zipmap_as_dicts(iris, body):
    answer = json.loads(iris.score(score_request(json.dumps(body))).body)

    assert answer["output_label"] == [0, 2]
    first = answer["output_probability"][0]
    assert set(first) == {"0", "1", "2"}
    assert first["0"] > 0.9 and sum(first.values()) == pytest.approx(1.0, abs=1e-5)


def test_infer_checks_and_runs_v2_tensors(adder):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    request = InferRequest(inputs=[InferTensor("x", x), InferTensor("y", np.ones((2, 3), np.float32))], id="r1")

    response = adder.infer(request)

    assert response.id == "r1"
    assert [t.name for t in response.outputs] == ["sum"]
    np.testing.assert_array_equal(response.outputs[0].data, x + 1)


def test_infer_converts_zipmap_to_a_probability_matrix(iris):
    rows = np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)

    response = iris.infer(InferRequest(inputs=[InferTensor("X", rows)], requested_outputs=["output_probability"]))

    (probabilities,) = response.outputs
    assert probabilities.data.dtype == np.float32 and probabilities.data.shape == (1, 3)
    assert probabilities.data[0].sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(("tensors", "message"), [
    ([("x", np.ones((2, 3), np.float64)), ("y", np.ones((2, 3), np.float32))],
     "input 'x': expected datatype FP32, got float64"),
    ([("x", np.ones((2, 4), np.float32)), ("y", np.ones((2, 3), np.float32))],
     r"input 'x': expected shape \[-1, 3\] \(-1: any size\), got \[2, 4\]"),
    ([("x", np.ones((2, 3), np.float32))], r"missing input\(s\) \['y'\]"),
    ([("z", np.ones((2, 3), np.float32))], r"unknown input 'z'; the model's inputs are \['x', 'y'\]"),
])
def test_infer_rejects_tensors_that_do_not_fit_the_model(adder, tensors, message):
    request = InferRequest(inputs=[InferTensor(name, data) for name, data in tensors])

    with pytest.raises(BadRequestError, match=message):
        adder.infer(request)


def test_unknown_requested_output_is_a_bad_request(adder):
    ones = np.ones((1, 3), np.float32)
    request = InferRequest(inputs=[InferTensor("x", ones), InferTensor("y", ones)], requested_outputs=["nope"])

    with pytest.raises(BadRequestError, match=r"unknown output\(s\) \['nope'\]"):
        adder.infer(request)


@pytest.mark.parametrize(("body", "message"), [
    ('{"data": [[1, 2]]}', r"input 'X': expected shape \[-1, 4\]"),
    ('{"data": [["a", "b", "c", "d"]]}', "input 'X': cannot read the value as a FP32 tensor"),
    ('{"Y": [[1, 2, 3, 4]]}', r"unknown input\(s\) \['Y'\]; send .*\['X'\]"),
    ("not json", "request body is not valid JSON"),
    ("", "request body is empty"),
])
def test_score_explains_bad_bodies(iris, body, message):
    with pytest.raises(BadRequestError, match=message):
        iris.score(score_request(body))


def test_score_from_get_query_parameters(adder):
    request = score_request(method="GET", query=[("x", "[[1,2,3]]"), ("y", "[[1,1,1]]")])

    assert json.loads(adder.score(request).body) == {"sum": [[2.0, 3.0, 4.0]]}


def test_one_session_serves_concurrent_threads(adder):
    from concurrent.futures import ThreadPoolExecutor

    def add(offset: int) -> bool:
        x = np.full((4, 3), offset, np.float32)
        response = adder.infer(InferRequest(inputs=[InferTensor("x", x), InferTensor("y", x)]))
        return bool((response.outputs[0].data == 2 * offset).all())

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(add, range(400)))


def test_the_same_input_twice_is_a_bad_request(adder):
    ones = np.ones((1, 3), np.float32)
    request = InferRequest(inputs=[InferTensor("x", ones), InferTensor("x", ones)])

    with pytest.raises(BadRequestError, match="more than once"):
        adder.infer(request)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs a process that may run on 2+ CPUs")
def test_a_process_pinned_to_one_cpu_gets_one_intra_op_thread(adder):
    code = ("import os, sys; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
            "from shipyard.scoring import ModelInfo, load_scorer;"
            "scorer = load_scorer(ModelInfo(name='adder', version='1', model_dir=sys.argv[1]));"
            "print(scorer.session.get_session_options().intra_op_num_threads)")
    pinned = subprocess.run([sys.executable, "-c", code, str(adder.info.model_dir)], capture_output=True, text=True,
                            check=True)
    assert pinned.stdout.strip() == "1"  # not ONNX Runtime's default (the machine's cores), which would fight
    assert adder.session.get_session_options().intra_op_num_threads in (0, len(os.sched_getaffinity(0)))
