"""Train a small iris classifier and save it the way an Azure ML job would.

Writes ``model/model.pkl`` (joblib, what score.py loads) and, when skl2onnx is installed,
``model/model.onnx`` (served directly by Shipyard's ONNX runtime, see shipyard-onnx.yaml).

    python train.py            # writes ./model/
    python train.py --out DIR  # writes DIR/
"""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def train(out: Path) -> LogisticRegression:
    """Fit the model on the iris data set (shipped with scikit-learn) and save it under *out*."""
    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(features, labels)
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / "model.pkl")
    _export_onnx(model, out / "model.onnx")
    return model


def _export_onnx(model: LogisticRegression, path: Path) -> None:
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError:
        print("skl2onnx is not installed: skipping model.onnx")
        return
    onnx_model = convert_sklearn(model, initial_types=[("input", FloatTensorType([None, 4]))],
                                 options={id(model): {"zipmap": False}}, target_opset=17)
    path.write_bytes(onnx_model.SerializeToString())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "model")
    trained = train(parser.parse_args().out)
    sample = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
    print("saved; predictions for sample-request.json:", trained.predict(sample).tolist())
