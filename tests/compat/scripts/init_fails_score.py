"""init() cannot find its model: the server must not start serving."""

import os


def init():
    path = os.path.join(os.getenv("AZUREML_MODEL_DIR", ""), "missing_model.pkl")
    with open(path, "rb"):
        pass


def run(raw_data):
    return raw_data
