"""Several registered models in one spec land where a v1 service had them: azureml-models/<name>/<version>/."""

from __future__ import annotations

import io
import tarfile
from pathlib import PurePosixPath

import pytest

from shipyard.builder import build_context
from shipyard.builder.plan import plan_build
from shipyard.builder.spec import RegisteredModel
from shipyard.errors import SpecError

MODELS = "models/iris-v1.pkl", "models/iris-v2.pkl", "models/encoder/vocab.txt"
TWO_MODELS = """\
    name: ensemble
    models:
      - {name: iris, version: 1, path: models/iris-v1.pkl}
      - name: iris
        version: 2
        path: models/iris-v2.pkl
      - {name: encoder, version: 5, path: models/encoder}
    entry_script: score.py
    """


def test_registered_entries_group_by_name_and_version(make_spec, tmp_path):
    spec = make_spec(TWO_MODELS, files=dict.fromkeys(MODELS, "x"))

    assert spec.models[0] == RegisteredModel(name="iris", version=1, path=tmp_path / "models" / "iris-v1.pkl")
    assert list(spec.model_groups) == [("iris", "1"), ("iris", "2"), ("encoder", "5")]
    assert spec.model_paths[2] == tmp_path / "models" / "encoder"


def test_several_models_make_azureml_models_the_model_dir_and_each_its_own_folder(make_spec):
    spec = make_spec(TWO_MODELS, files=dict.fromkeys(MODELS, "x"))
    context = build_context(plan_build(spec))

    assert context.plan.model_dir == PurePosixPath("/var/azureml-app/azureml-models")
    assert context.plan.runtime_env["SHIPYARD_MODEL_DIR"] == "/var/azureml-app/azureml-models"
    with tarfile.open(fileobj=io.BytesIO(_tar_bytes(context))) as archive:
        names = set(archive.getnames())
    assert {"model/iris/1/iris-v1.pkl", "model/iris/2/iris-v2.pkl", "model/encoder/5/encoder/vocab.txt"} <= names
    assert {"model/iris", "model/iris/1", "model/encoder/5"} <= names  # folders carry their own entries
    assert "COPY model/ /var/azureml-app/azureml-models/" in context.dockerfile


def test_one_registered_model_is_the_model_dir_itself(make_spec):
    spec = make_spec("name: svc\nmodels: [{name: iris, version: 3, path: model/model.pkl}]\nentry_script: score.py\n")
    plan = plan_build(spec)

    assert plan.model_dir == PurePosixPath("/var/azureml-app/azureml-models/iris/3")
    assert "model/model.pkl" in build_context(plan).files


def test_plain_paths_are_the_specs_own_model_beside_registered_ones(make_spec):
    spec = make_spec("name: svc\nversion: '4'\nmodels:\n  - model/model.pkl\n"
                     "  - {name: iris, path: models/iris-v1.pkl}\nentry_script: score.py\n",
                     files={"models/iris-v1.pkl": "x"})

    assert list(spec.model_groups) == [("svc", "4"), ("iris", "1")]  # version defaults to 1
    assert "model/svc/4/model.pkl" in build_context(plan_build(spec)).files


@pytest.mark.parametrize(("entry", "field", "message"), [
    ("{name: iris, version: v2, path: model/model.pkl}", "models.1.version", "valid integer"),
    ("{name: iris, version: 0, path: model/model.pkl}", "models.1.version", "greater than or equal to 1"),
    ("{name: iris, version: 2}", "models.1", "no path given, and the model registry cannot provide it"),
    ("{name: iris, path: model/missing.pkl}", "models.1.path", "'model/missing.pkl' does not exist"),
    ("{name: iris, versoin: 2, path: model/model.pkl}", "models.1.versoin", "did you mean 'version'?"),
    ("{name: 'bad name', path: model/model.pkl}", "models.1.name", "name"),
])
def test_a_bad_registered_entry_names_its_field_and_line(make_spec, entry, field, message, tmp_path, monkeypatch):
    monkeypatch.setenv("SHIPYARD_MODEL_REGISTRY", str(tmp_path / "empty-registry"))  # no path: looked up there
    with pytest.raises(SpecError) as caught:
        make_spec(f"name: svc\nmodels:\n  - model/model.pkl\n  - {entry}\nentry_script: score.py\n")

    assert (caught.value.field, caught.value.line) == (field, 4)
    assert message in str(caught.value)
    assert "shipyard.yaml:4" in str(caught.value)


def test_several_models_need_an_entry_script(make_spec):
    with pytest.raises(SpecError, match=r"several models \(a 1, b 1\) need an entry_script"):
        make_spec("name: svc\nmodels:\n  - {name: a, path: m.onnx}\n  - {name: b, path: m.onnx}\n",
                  files={"m.onnx": "onnx"})


def test_two_files_landing_on_one_name_in_one_folder_are_refused_before_any_build(make_spec):
    spec = make_spec("name: svc\nmodels:\n  - {name: iris, path: a/model.pkl}\n  - {name: iris, path: b/model.pkl}\n"
                     "entry_script: score.py\n", files={"a/model.pkl": "1", "b/model.pkl": "2"})

    with pytest.raises(SpecError) as caught:
        plan_build(spec)
    assert (caught.value.field, caught.value.line) == ("models.1", 4)
    assert "azureml-models/iris/1/ as 'model.pkl'" in str(caught.value)


def _tar_bytes(context) -> bytes:
    stream = io.BytesIO()
    context.write_tar(stream)
    return stream.getvalue()
