"""``Model.get_model_path`` answers as azureml-core's does, checked against azureml-core itself.

The real azureml-core (in a cached side virtualenv, like azmlinfsrv's) and Shipyard's stand-in
resolve the same calls against the same folders, laid out as a deployed v1 service had them.
Shipyard's additions (AZUREML_MODEL_DIR layouts, a version folder with several entries) are where
azureml-core found nothing or failed; tests/scoring/test_sdk_model.py covers those.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.azmlinfsrv import cached_venv

AZUREML_CORE = "azureml-core==1.61.0.post4"
DRIVER = Path(__file__).resolve().parent / "model_path_driver.py"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def azureml_core_python() -> Path:
    return cached_venv("azureml-core-1.61.0.post4", [AZUREML_CORE])


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Path:
    """An app root as Azure unpacked one: three registered models, one of them a folder, plus ./local_model."""
    root = tmp_path_factory.mktemp("azureml-app")
    for name, version, entry in [("iris", 1, "iris.pkl"), ("iris", 2, "iris.pkl"), ("iris", 10, "iris.pkl"),
                                 ("encoder", 3, "encoder/vocab.txt"), ("empty", 1, None)]:
        folder = root / "azureml-models" / name / str(version)
        folder.mkdir(parents=True)
        if entry:
            (folder / entry).parent.mkdir(parents=True, exist_ok=True)
            (folder / entry).write_text(f"{name} {version}")
    (root / "local_model").write_text("in the working directory")
    (root / "elsewhere").mkdir()
    return root


def cases(root: Path) -> list[dict]:
    at = {"cwd": str(root), "app_root": str(root)}
    return [
        {**at, "args": ["iris"], "kwargs": {}},  # latest: 10, not the last listed
        {**at, "args": ["iris"], "kwargs": {"version": 2}},
        {**at, "args": [], "kwargs": {"model_name": "encoder"}},  # a registered folder
        {**at, "args": ["local_model"], "kwargs": {}},  # ./<name> fallback, returned as given
        {**at, "args": ["missing"], "kwargs": {}},
        {**at, "args": ["iris"], "kwargs": {"version": 7}},  # a version that is not there
        {**at, "args": ["iris"], "kwargs": {"version": "2"}},  # version must be an int
        {**at, "args": [None], "kwargs": {}},
        {**at, "args": ["empty"], "kwargs": {}},  # an empty version folder
        {"cwd": str(root), "app_root": None, "args": ["iris"], "kwargs": {"version": 1}},  # relative MODELS_DIR
        {"cwd": str(root / "elsewhere"), "app_root": str(root), "args": ["iris"], "kwargs": {}},
        {"cwd": str(root / "elsewhere"), "app_root": str(root / "elsewhere"), "args": ["iris"], "kwargs": {}},
    ]


def answers(command: list[str], root: Path, env: dict[str, str]) -> list[dict]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AML_", "AZUREML_"))}
    environment.update(env)
    completed = subprocess.run(command, input=json.dumps(cases(root)), capture_output=True, text=True,
                               env=environment, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout)


def test_get_model_path_answers_like_azureml_core(azureml_core_python: Path, app: Path) -> None:
    reference = answers([str(azureml_core_python), str(DRIVER)], app, {})
    shipyard = answers([sys.executable, str(DRIVER), "--shipyard"], app, {"PYTHONPATH": str(REPO)})

    for case, ref, ours in zip(cases(app), reference, shipyard, strict=True):
        assert ours == ref, f"get_model_path(*{case['args']}, **{case['kwargs']}) in {case['cwd']}"
    assert reference[0] == {"path": str(app / "azureml-models" / "iris" / "10" / "iris.pkl")}
    assert {"error": "ModelNotFoundException"} in reference and {"error": "WebserviceException"} in reference
