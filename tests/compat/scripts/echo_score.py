"""A plain v1-style script: init() loads nothing, run() echoes what it was given as a string."""

import json
import os

model_dir = None


def init():
    global model_dir
    model_dir = os.getenv("AZUREML_MODEL_DIR")


def run(raw_data):
    try:
        parsed = json.loads(raw_data)
    except ValueError:
        parsed = None
    return {"type": type(raw_data).__name__, "raw": raw_data, "parsed": parsed}
