"""The V2 convention for entry scripts: tensors in as JSON (or typed arguments), outputs by key."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shipyard.errors import BadRequestError, ScoringError
from shipyard.scoring import InferRequest, InferTensor, ModelInfo, load_scorer


def _request(*tensors: tuple[str, np.ndarray], outputs: list[str] | None = None) -> InferRequest:
    return InferRequest(inputs=[InferTensor(name, data) for name, data in tensors], requested_outputs=outputs, id="7")


def test_single_input_reaches_run_as_json_under_its_name_and_data(load_script):
    scorer = load_script("v2_sum_score.py")

    response = scorer.infer(_request(("input0", np.array([[1, 2], [3, 4]], dtype=np.int32))))

    assert response.id == "7"
    by_name = {tensor.name: tensor.data for tensor in response.outputs}
    np.testing.assert_array_equal(by_name["row_sum"], [3.0, 7.0])
    assert by_name["keys"].tolist() == [b"data", b"input0"]  # strings become BYTES


def test_requested_outputs_are_selected_and_unknown_ones_rejected(load_script):
    scorer = load_script("v2_sum_score.py")
    rows = ("data", np.ones((1, 3), np.float32))

    assert [t.name for t in scorer.infer(_request(rows, outputs=["row_sum"])).outputs] == ["row_sum"]
    with pytest.raises(BadRequestError, match=r"requested output\(s\) \['nope'\] not produced"):
        scorer.infer(_request(rows, outputs=["nope"]))


def test_schema_script_gets_numpy_arrays_as_arguments(load_script):
    scorer = load_script("schema_score.py")

    response = scorer.infer(_request(("data", np.array([[1, 2, 3, 4]], np.float32)), ("scale", np.array([3.0]))))

    (output,) = response.outputs
    assert output.name == "output0" and output.data.dtype == np.float32
    np.testing.assert_array_equal(output.data, [30.0])


def test_schema_script_rejects_inputs_that_are_not_parameters(load_script):
    scorer = load_script("schema_score.py")

    with pytest.raises(BadRequestError, match=r"input\(s\) \['x'\] are not parameters of run\(\)"):
        scorer.infer(_request(("x", np.ones((1, 4), np.float32))))


def test_json_string_results_are_parsed_and_text_inputs_decoded(load_script):
    scorer = load_script("str_return_score.py")

    response = scorer.infer(_request(("text", np.array([b"hello"], dtype=object))))

    (length,) = response.outputs
    assert length.name == "length"
    assert length.data.tolist() == [len('{"text":["hello"],"data":["hello"]}')]


def test_rawhttp_script_sees_a_json_post(load_script):
    scorer = load_script("rawhttp_score.py")

    response = scorer.infer(_request(("data", np.array([1.5], np.float64))))

    by_name = {tensor.name: tensor.data.tolist() for tensor in response.outputs}
    assert by_name["method"] == [b"POST"] and by_name["is_aml_request"] == [True]
    assert json.loads(by_name["json"][0]) == {"data": [1.5]}


def _script(tmp_path, model_dir, source: str):
    script = tmp_path / "inline_score.py"
    script.write_text("def init():\n    pass\n\n" + source)
    return load_scorer(ModelInfo(name="m", version="1", model_dir=model_dir, entry_script=script))


def test_error_response_from_the_script_keeps_its_status(tmp_path, model_dir):
    scorer = _script(tmp_path, model_dir, (
        "from azureml.contrib.services.aml_response import AMLResponse\n\n"
        "def run(data):\n    return AMLResponse('no such customer', 409)\n"
    ))

    with pytest.raises(ScoringError, match="no such customer") as caught:
        scorer.infer(_request(("data", np.ones(1))))

    assert caught.value.status_code == 409


def test_ragged_output_is_a_server_error(tmp_path, model_dir):
    scorer = _script(tmp_path, model_dir, "def run(data):\n    return {'bad': [[1, 2], [3]]}\n")

    with pytest.raises(ScoringError, match="run\\(\\) output 'bad' is not a rectangular array"):
        scorer.infer(_request(("data", np.ones(1))))
