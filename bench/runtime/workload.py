"""What the servers are asked to do: the ONNX model, the request bodies and the expected answers.

The model is made fresh on every run (a few hundred milliseconds) so the benchmark needs nothing
checked in but code: scikit-learn's LogisticRegression on iris, exported with skl2onnx without the
ZipMap operator, so the outputs are two plain tensors (label, probabilities) every runtime handles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODEL_NAME = "iris"
ROW = [5.1, 3.5, 1.4, 0.2]  # one iris flower; one row per request, as an online endpoint sees it
CONSTANT = {"result": [0]}


@dataclass(frozen=True)
class Workload:
    """One kind of request: where it goes, what it carries, and how to tell a right answer."""

    name: str
    path: str
    body: bytes
    expected: object

    def check(self, status: int, payload: bytes) -> str | None:
        """Return why the answer is wrong, or None when it is the expected one."""
        if status != 200:
            return f"HTTP {status}: {payload[:300]!r}"
        try:
            answer = json.loads(payload)
        except ValueError:
            return f"not JSON: {payload[:300]!r}"
        if not _close(answer, self.expected):
            return f"answer {json.dumps(answer)[:300]} differs from expected {self.expected!r:.300}"
        return None


def make_model(model_dir: Path) -> np.ndarray:
    """Train the classifier, write ``model_dir/model.onnx``; return its probabilities for ROW."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, labels = load_iris(return_X_y=True)
    classifier = LogisticRegression(max_iter=500).fit(features.astype(np.float32), labels)
    onnx_model = to_onnx(
        classifier,
        initial_types=[("X", FloatTensorType([None, 4]))],
        options={id(classifier): {"zipmap": False}},
        target_opset=17,
    )
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model.onnx").write_bytes(onnx_model.SerializeToString())
    return classifier.predict_proba(np.asarray([ROW], dtype=np.float32))


def score_workload(probabilities: np.ndarray) -> Workload:
    """POST /score with Azure's ``{"data": [[...]]}`` body, answered by score_onnx.py."""
    expected = {"label": [int(np.argmax(probabilities[0]))], "probabilities": probabilities.tolist()}
    return Workload("score", "/score", json.dumps({"data": [ROW]}).encode(), expected)


def constant_workload() -> Workload:
    """The same body as the score workload, answered by a constant."""
    return Workload("constant", "/score", json.dumps({"data": [ROW]}).encode(), CONSTANT)


def v2_workload(probabilities: np.ndarray) -> Workload:
    """POST /v2/models/iris/infer: the Open Inference Protocol request for the same row."""
    body = {"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": ROW}]}
    return Workload("v2-infer", f"/v2/models/{MODEL_NAME}/infer", json.dumps(body).encode(), _V2Expected(probabilities))


class _V2Expected:
    """The parts of a V2 response that must be right; ids, versions and extra fields may vary."""

    def __init__(self, probabilities: np.ndarray) -> None:
        self.label = int(np.argmax(probabilities[0]))
        self.probabilities = probabilities[0].tolist()

    def matches(self, answer: object) -> bool:
        if not isinstance(answer, dict) or not isinstance(answer.get("outputs"), list):
            return False
        outputs = {out.get("name"): out.get("data") for out in answer["outputs"] if isinstance(out, dict)}
        label, proba = outputs.get("label"), outputs.get("probabilities")
        return label is not None and _flat(label) == [self.label] and _close(_flat(proba), self.probabilities)

    def __repr__(self) -> str:
        return f"V2 outputs label=[{self.label}] probabilities={self.probabilities}"



def prepare(work_dir: Path) -> tuple[Path, dict[str, Workload], dict[str, Path]]:
    """Make the model in *work_dir* and write each workload's body there (wrk reads it from a file).

    Returns the model folder, the workloads by name, and each workload's body file.
    """
    model_dir = work_dir / MODEL_NAME
    probabilities = make_model(model_dir)
    workloads = {w.name: w for w in (score_workload(probabilities), constant_workload(), v2_workload(probabilities))}
    bodies = {name: work_dir / f"body-{name}.json" for name in workloads}
    for name, workload in workloads.items():
        bodies[name].write_bytes(workload.body)
    return model_dir, workloads, bodies


def _flat(value: object) -> object:
    """V2 ``data`` may be flat or nested; compare it flat."""
    if isinstance(value, list):
        return [item for part in value for item in (_flat(part) if isinstance(part, list) else [part])]
    return value


def _close(answer: object, expected: object) -> bool:
    """Equality that forgives float32 rounding (1e-4), since servers may serialise differently."""
    if isinstance(expected, _V2Expected):
        return expected.matches(answer)
    if isinstance(expected, dict):
        return isinstance(answer, dict) and answer.keys() == expected.keys() and all(
            _close(answer[key], expected[key]) for key in expected
        )
    if isinstance(expected, list):
        return isinstance(answer, list) and len(answer) == len(expected) and all(
            _close(a, e) for a, e in zip(answer, expected)
        )
    if isinstance(expected, float) and isinstance(answer, (int, float)):
        return abs(answer - expected) <= 1e-4
    return answer == expected
