"""inference-schema decorated run(): JSON keys become typed arguments; swagger like azmlinfsrv."""

from __future__ import annotations

import json

import pytest

from shipyard.errors import BadRequestError, ScoringError
from tests.scoring.conftest import score_request


@pytest.fixture
def scorer(load_script):
    return load_script("schema_score.py")


def test_json_keys_become_converted_arguments_and_defaults_apply(scorer):
    body = json.dumps({"data": [[1, 2, 3, 4], [1, 1, 1, 1]]})

    assert json.loads(scorer.score(score_request(body)).body) == [20.0, 8.0]
    scaled = score_request(json.dumps({"data": [[1, 1, 1, 1]], "scale": 0.5}))
    assert json.loads(scorer.score(scaled).body) == [2.0]


def test_get_query_parameters_are_json_values(scorer):
    request = score_request(method="GET", query=[("data", "[[1,2,3,4]]"), ("scale", "1")])

    assert json.loads(scorer.score(request).body) == [10.0]


@pytest.mark.parametrize(("body", "content_type", "status", "message"), [
    ('{"data": [[1, 2, 3, 4]]}', "text/plain", 415, "Content-Type: application/json"),
    ("", "application/json", 400, "POST body is empty"),
    ("{nope", "application/json", 400, "POST body is not valid JSON"),
    ("[1, 2]", "application/json", 400, r"must be a JSON object with keys \['data', 'scale'\], got a JSON list"),
    ('{"scale": 1}', "application/json", 400, "no value for the 'data' parameter of run()"),
    ('{"data": [[1, 2]]}', "application/json", 400, "input does not match run\\(\\)'s @input_schema: .*size 2"),
])
def test_bad_requests_are_client_errors(scorer, body, content_type, status, message):
    with pytest.raises(BadRequestError, match=message) as caught:
        scorer.score(score_request(body, content_type=content_type))

    assert caught.value.status_code == status


def test_swagger_documents_carry_the_schema(scorer):
    swagger2 = scorer.swagger("2.0")
    openapi3 = scorer.swagger("3")
    openapi31 = scorer.swagger("3.1")

    assert swagger2["swagger"] == "2.0"
    service_input = swagger2["definitions"]["ServiceInput"]
    assert service_input["properties"]["data"]["format"] == "numpy.ndarray"
    assert swagger2["paths"]["/score"]["post"]["operationId"] == "RunMLService"
    assert openapi3["openapi"] == "3.0.3"
    assert openapi3["components"]["schemas"]["ServiceInput"] == service_input
    assert openapi31["openapi"] == "3.1.0"
    # azmlinfsrv's defaults when SERVICE_NAME / SERVICE_VERSION are not set (not the model's name)
    assert openapi3["info"] == {"title": "ML service", "version": "1.0",
                                "description": "API specification for the Azure Machine Learning service ML service"}


def test_unknown_swagger_version_is_404(scorer):
    with pytest.raises(ScoringError, match=r"Swagger version \[4\] is not valid") as caught:
        scorer.swagger("4")

    assert caught.value.status_code == 404


def test_a_swagger_file_in_the_app_root_wins(load_script, tmp_path, monkeypatch):
    (tmp_path / "swagger.json").write_text('{"swagger": "2.0", "info": {"title": "mine"}}')
    monkeypatch.setenv("AML_APP_ROOT", str(tmp_path))

    scorer = load_script("schema_score.py")

    assert scorer.swagger("2") == {"swagger": "2.0", "info": {"title": "mine"}}
    assert scorer.swagger("3")["openapi"] == "3.0.3"  # no swagger3.json: generated


def test_metadata_describes_numpy_schema_inputs(scorer):
    meta = scorer.metadata()

    assert [(t.name, t.datatype, t.shape) for t in meta.inputs] == [("data", "FP32", (-1, 4))]  # not "scale"
    assert [(t.name, t.datatype, t.shape) for t in meta.outputs] == [("output0", "FP32", (-1,))]
