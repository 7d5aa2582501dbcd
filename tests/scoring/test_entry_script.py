"""Entry scripts run unchanged: environment, run(data) input forms and return values."""

from __future__ import annotations

import json
import os

import pytest

from shipyard.errors import BadRequestError
from shipyard.scoring.entry_script import EntryScriptScorer
from tests.scoring.conftest import SCRIPTS, score_request


def test_run_receives_the_body_as_str_and_init_sees_the_model_dir(load_script, model_dir):
    scorer = load_script("echo_score.py")
    assert isinstance(scorer, EntryScriptScorer)

    response = scorer.score(score_request('{"data": [[1, 2]]}'))

    assert response.status_code == 200
    assert response.media_type == "application/json"
    assert json.loads(response.body) == {"type": "str", "data": '{"data": [[1, 2]]}', "model_dir": str(model_dir)}


def test_script_sees_azure_environment_and_imports_sibling_modules(load_script, model_dir):
    scorer = load_script("environment_score.py")

    seen = json.loads(scorer.score(score_request("{}")).body)

    assert seen["AZUREML_MODEL_DIR"] == str(model_dir)
    assert seen["AML_APP_ROOT"] == str(SCRIPTS)
    assert seen["AZUREML_ENTRY_SCRIPT"] == str(SCRIPTS / "environment_score.py")
    assert seen["helper"] == "hello from a sibling module"
    assert seen["module_name"].startswith("shipyard_entry_environment_score_")


def test_an_existing_app_root_is_kept(load_script, tmp_path):
    os.environ["AML_APP_ROOT"] = str(tmp_path)

    seen = json.loads(load_script("environment_score.py").score(score_request("{}")).body)

    assert seen["AML_APP_ROOT"] == str(tmp_path)


def test_get_query_parameters_arrive_as_a_json_string(load_script):
    scorer = load_script("echo_score.py")

    request = score_request(method="GET", query=[("a", "1"), ("b", "[1,2]"), ("c", "x"), ("c", "y")])
    answer = json.loads(scorer.score(request).body)

    assert json.loads(answer["data"]) == {"a": 1, "b": [1, 2], "c": ["x", "y"]}


def test_non_utf8_body_is_a_bad_request(load_script):
    scorer = load_script("echo_score.py")

    with pytest.raises(BadRequestError, match="UTF-8"):
        scorer.score(score_request(b"\xff\xfe\x00"))


def test_returned_str_is_json_encoded_like_json_dumps(load_script):
    scorer = load_script("str_return_score.py")

    body = scorer.score(score_request("abcd")).body

    assert json.loads(body) == json.dumps({"length": 4})


def test_numpy_arrays_and_scalars_are_returned_as_json(load_script):
    scorer = load_script("numpy_score.py")

    answer = json.loads(scorer.score(score_request("{}")).body)

    assert answer == {"matrix": [[1.5, 2.5], [3.5, 4.5]], "transposed": [[1.5, 3.5], [2.5, 4.5]],
                      "total": 12.0, "count": 4}


def test_request_headers_parameter_gets_a_dict_with_title_case_names(load_script):
    scorer = load_script("headers_score.py")

    answer = json.loads(scorer.score(score_request("{}", headers={"X-Custom-Header": "yes"})).body)

    assert answer == {"content_type": "application/json", "custom": "yes", "lower_case_lookup": None,
                      "keys": ["Content-Type", "Host", "X-Custom-Header"]}


def test_exceptions_from_run_propagate_unchanged(load_script):
    scorer = load_script("run_raises_score.py")

    with pytest.raises(RuntimeError, match="cannot score 'boom'") as caught:
        scorer.score(score_request("boom"))

    assert type(caught.value).__name__ == "ScriptFailure"


def test_load_is_idempotent_so_init_runs_once(load_script):
    scorer = load_script("echo_score.py")
    module = scorer.module

    scorer.load()

    assert scorer.module is module


def test_two_scripts_with_module_state_do_not_collide(load_script, model_dir):
    first, second = load_script("echo_score.py"), load_script("echo_score.py")

    assert first.module is not second.module
    assert first.module.__name__ != second.module.__name__


def test_swagger_without_decorators_is_a_minimal_document(load_script):
    scorer = load_script("echo_score.py")

    document = scorer.swagger("2")

    assert document["swagger"] == "2.0"
    assert set(document["paths"]) == {"/", "/score", "/swagger.json"}
    assert document["definitions"]["ServiceInput"] == {"type": "object", "example": {}}
    assert scorer.swagger("3.1")["openapi"] == "3.1.0"
    assert scorer.metadata().platform == "azureml_entry_script"
