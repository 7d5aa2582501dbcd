"""An Azure ML entry script, unchanged: Shipyard runs it exactly as Azure ML did.

init() runs once when the service starts; run() answers each POST /score with the request body.
"""

import json
import os

import joblib
import numpy as np


def init():
    global model
    # AZUREML_MODEL_DIR is the folder holding the registered model files.
    model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model.pkl")
    model = joblib.load(model_path)


def run(raw_data):
    data = np.array(json.loads(raw_data)["data"])
    predictions = model.predict(data)
    return predictions.tolist()
