"""SDK v1 style: a scikit-learn pickle straight in the model folder, JSON {"data": [[...]]} in, a list out."""

import json
import os

import joblib
import numpy as np


def init():
    global model
    # AZUREML_MODEL_DIR is the folder of the registered model; the pickle sits directly inside it
    model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "sklearn_regression_model.pkl")
    model = joblib.load(model_path)


def run(raw_data):
    try:
        data = np.array(json.loads(raw_data)["data"])
        result = model.predict(data)
        return result.tolist()
    except Exception as e:
        error = str(e)
        return error
