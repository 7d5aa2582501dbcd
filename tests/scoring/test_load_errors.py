"""A broken entry script fails at load with a one-line reason, chained to the original error."""

from __future__ import annotations

import pytest

from shipyard.errors import ModelLoadError
from shipyard.scoring import ModelInfo, load_scorer
from tests.scoring.conftest import SCRIPTS


def test_syntax_error_names_script_and_line(load_script):
    with pytest.raises(ModelLoadError, match=r"^syntax_error_score\.py line 7: SyntaxError: ") as caught:
        load_script("syntax_error_score.py")

    assert isinstance(caught.value.__cause__, SyntaxError)


def test_missing_package_names_the_import_line(load_script):
    with pytest.raises(ModelLoadError) as caught:
        load_script("import_error_score.py")

    message = str(caught.value)
    assert message.startswith("import_error_score.py line 5: importing import_error_score.py raised ")
    assert "ModuleNotFoundError: No module named 'shipyard_package_that_does_not_exist'" in message
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def test_init_raising_is_explained(load_script):
    with pytest.raises(ModelLoadError) as caught:
        load_script("init_raises_score.py")

    assert str(caught.value) == (
        "init_raises_score.py line 5: init() raised ValueError: model.pkl not found in AZUREML_MODEL_DIR"
    )
    assert isinstance(caught.value.__cause__, ValueError)


def test_missing_run_is_explained(load_script):
    with pytest.raises(ModelLoadError, match=r"no_run_score\.py defines no run\(\) function"):
        load_script("no_run_score.py")


def test_missing_script_file(model_dir):
    info = ModelInfo(name="m", version="1", model_dir=model_dir, entry_script=SCRIPTS / "absent_score.py")

    with pytest.raises(ModelLoadError, match="absent_score.py does not exist"):
        load_scorer(info)


def test_model_folder_without_script_or_model_file_says_what_it_found(model_dir):
    info = ModelInfo(name="m", version="1", model_dir=model_dir)

    with pytest.raises(ModelLoadError) as caught:
        load_scorer(info)

    message = str(caught.value)
    assert "it holds weights.txt" in message
    assert ".onnx" in message and "SHIPYARD_ENTRY_SCRIPT" in message


def test_two_model_files_are_ambiguous(model_dir):
    (model_dir / "a.onnx").write_bytes(b"")
    (model_dir / "b.onnx").write_bytes(b"")

    with pytest.raises(ModelLoadError, match=r"2 model files .*a\.onnx, b\.onnx"):
        load_scorer(ModelInfo(name="m", version="1", model_dir=model_dir))
