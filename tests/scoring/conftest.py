"""Fixtures for scorer tests: load a fixture ``score.py`` in-process, build requests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from shipyard.scoring import ModelInfo, Scorer, ScoreRequest, load_scorer

SCRIPTS = Path(__file__).resolve().parents[1] / "fixtures" / "scripts"
AZURE_VARIABLES = ("AZUREML_MODEL_DIR", "AML_APP_ROOT", "AZUREML_ENTRY_SCRIPT")


def score_request(
    body: bytes | str = b"",
    *,
    method: str = "POST",
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
    query: list[tuple[str, str]] | None = None,
    path: str = "/score",
) -> ScoreRequest:
    """A request as the runtime would hand it over (lower-case header names, like ASGI)."""
    all_headers = {"host": "testserver"}
    if content_type:
        all_headers["content-type"] = content_type
    all_headers.update({key.lower(): value for key, value in (headers or {}).items()})
    return ScoreRequest(
        method=method,
        path=path,
        headers=all_headers,
        query=query or [],
        body=body.encode("utf-8") if isinstance(body, str) else body,
        request_id="test-request",
    )


@pytest.fixture(autouse=True)
def _azure_environment() -> Iterator[None]:
    """Each test starts without the Azure variables a previous load exported."""
    saved = {name: os.environ.pop(name, None) for name in AZURE_VARIABLES}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.txt").write_text("pretend weights")
    return folder


@pytest.fixture
def load_script(model_dir: Path) -> Callable[[str], Scorer]:
    """``load_script("echo_score.py")`` → a loaded scorer for that fixture script."""

    def load(name: str, **info_fields) -> Scorer:
        info = ModelInfo(name="fixture", version="3", model_dir=model_dir, entry_script=SCRIPTS / name, **info_fields)
        return load_scorer(info)

    return load


@pytest.fixture(scope="session")
def iris_model_dir(tmp_path_factory) -> Path:
    """A real scikit-learn classifier converted with skl2onnx (ZipMap probabilities output)."""
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, labels = load_iris(return_X_y=True)
    classifier = LogisticRegression(max_iter=500).fit(features, labels)
    folder = tmp_path_factory.mktemp("iris")
    (folder / "model.onnx").write_bytes(to_onnx(classifier, features[:1].astype(np.float32)).SerializeToString())
    (folder / "README.txt").write_text("not a model")
    return folder


@pytest.fixture(scope="session")
def add_model_dir(tmp_path_factory) -> Path:
    """Two FP32 inputs [batch, 3] added together: sum = x + y."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    total = helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["batch", 3])
    graph = helper.make_graph([helper.make_node("Add", ["x", "y"], ["sum"])], "add", [x, y], [total])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder = tmp_path_factory.mktemp("add") / "nested"
    folder.mkdir()
    onnx.save(model, folder / "add.onnx")
    return folder.parent
