"""The benchmark's real score.py: an iris classifier exported to ONNX, scored with onnxruntime.

Written the way an Azure ML SDK v1 user writes it (module globals set in ``init()``, ``run`` gets
the raw JSON string), so the same file runs unchanged under azmlinfsrv and under Shipyard.
"""

import json
import os

import numpy as np
import onnxruntime as ort

session = None
input_name = None


def init():
    global session, input_name
    options = ort.SessionOptions()
    # One row per request: parallelism comes from serving many requests, not from splitting one.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.onnx")
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name


def run(raw_data):
    rows = np.asarray(json.loads(raw_data)["data"], dtype=np.float32)
    labels, probabilities = session.run(None, {input_name: rows})
    return {"label": labels.tolist(), "probabilities": probabilities.tolist()}
