"""v2 (azureml-examples) style: the pickle under a sub-folder of the model folder, logging as it goes."""

import json
import logging
import os

import joblib
import numpy


def init():
    """Called once when the deployment starts: load the model into a global."""
    global model
    model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model/sklearn_regression_model.pkl")
    model = joblib.load(model_path)
    logging.info("Init complete")


def run(raw_data):
    """Called for every request: the body is a JSON document with a "data" list of rows."""
    logging.info("model 1: request received")
    data = json.loads(raw_data)["data"]
    data = numpy.array(data)
    result = model.predict(data)
    logging.info("Request processed")
    return result.tolist()
