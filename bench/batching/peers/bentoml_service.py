"""BentoML 1.4 service: onnxruntime behind a batchable API (BentoML's adaptive batching)."""

import os

import bentoml
import numpy as np
import onnxruntime as ort

MAX_BATCH = int(os.environ.get("BENCH_MAX_BATCH", "64"))


@bentoml.service(workers=1)
class Model:
    def __init__(self) -> None:
        self.session = ort.InferenceSession(os.environ["BENCH_MODEL_FILE"], providers=["CPUExecutionProvider"])

    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=MAX_BATCH)
    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"x": x.astype(np.float32, copy=False)})[0]
