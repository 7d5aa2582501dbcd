"""Scripts shaped like Microsoft's published v1/v2 samples run unchanged, with no Azure package installed.

Each is served by the real azmlinfsrv 1.5.1 and by Shipyard against the same model folder (a real
scikit-learn Ridge regression, pickled with joblib) and must answer the same. The raw-HTTP samples'
shapes (binary in -> image out, multi-file in -> JSON out) are in test_uploads.py, a user-supplied
swagger file in test_schema_and_swagger.py.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.azmlinfsrv import ServerPair, exchange

SAMPLES = Path(__file__).resolve().parent / "samples"
JSON = {"Content-Type": "application/json"}
ROWS = [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the same fitted model in both layouts the samples read: flat and model/."""
    joblib = pytest.importorskip("joblib")
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    features = rng.normal(size=(50, 10))
    model = Ridge(alpha=0.5).fit(features, features @ np.arange(1, 11) + 3.0)
    folder = tmp_path_factory.mktemp("sklearn-models")
    joblib.dump(model, folder / "sklearn_regression_model.pkl")
    (folder / "model").mkdir()
    joblib.dump(model, folder / "model" / "sklearn_regression_model.pkl")
    return folder


def test_no_azure_package_is_installed_here() -> None:
    """What makes 'unchanged, with no Azure package' true for the Shipyard side of these tests."""
    azure = [dist.metadata["Name"] for dist in metadata.distributions()
             if (dist.metadata["Name"] or "").lower().startswith(("azureml", "azure-ml"))]
    assert azure == []


@pytest.mark.parametrize("sample", ["sklearn_flat", "sklearn_subfolder"])
@pytest.mark.parametrize("body", [json.dumps({"data": ROWS}).encode(), b'{"data": [[1, 2]]}'],
                         ids=["two-rows", "wrong-width"])
def test_sklearn_sample(differential_servers, models: Path, sample: str,  # type: ignore[no-untyped-def]
                        body: bytes) -> None:
    pair = differential_servers(SAMPLES / sample / "score.py", model_dir=models)
    answer = exchange(pair, "POST", "/score", content=body, headers=JSON)
    if sample == "sklearn_subfolder" and body != json.dumps({"data": ROWS}).encode():
        answer.assert_same()  # the v2 sample lets predict() raise: a 500 on both
        assert answer.shipyard.status_code == 500
        return
    answer.assert_same()
    assert answer.shipyard.status_code == 200


def test_sklearn_schema_sample(differential_servers, models: Path) -> None:  # type: ignore[no-untyped-def]
    pair: ServerPair = differential_servers(SAMPLES / "sklearn_schema" / "score.py", model_dir=models)
    exchange(pair, "POST", "/score", content=json.dumps({"Inputs": ROWS, "GlobalParameters": 2.0}).encode(),
             headers=JSON).assert_same()
    exchange(pair, "POST", "/score", content=json.dumps({"Inputs": ROWS}).encode(), headers=JSON).assert_same()
    exchange(pair, "GET", "/swagger.json").assert_same()
    exchange(pair, "GET", "/swagger.json?version=3").assert_same()
