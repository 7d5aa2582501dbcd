"""A real image with two registered models: an SDK v1 script finds each with Model.get_model_path.

One build on the iris example's environment (its dependency layers come from Docker's cache when
the example image was built), run as a container on a free port.
"""

from __future__ import annotations

import shutil

import httpx
import joblib
import numpy as np
import pytest

from shipyard.builder import build_image, load_spec

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SPEC = """\
name: ensemble
models:
  - {name: iris, version: 1, path: model/model.pkl}
  - {name: iris, version: 2, path: model/model.pkl}
  - {name: labels, version: 3, path: labels.txt}
entry_script: score.py
environment: environment.yml
"""
SCORE = '''\
import json
import os

import joblib
from azureml.core.model import Model


def init():
    global model, labels, paths
    paths = {"iris": Model.get_model_path("iris"), "iris_v1": Model.get_model_path("iris", version=1),
             "labels": Model.get_model_path(model_name="labels")}
    model = joblib.load(paths["iris"])
    with open(paths["labels"]) as handle:
        labels = handle.read().split()


def run(raw_data):
    predictions = model.predict(json.loads(raw_data)["data"]).tolist()
    return {"classes": [labels[index] for index in predictions], "paths": paths,
            "model_dir": os.environ["AZUREML_MODEL_DIR"]}
'''


def test_two_registered_models_in_one_image(tmp_path, example_dir, docker_base_image, host_ca_bundle, docker_client,
                                            runtime_wheel, run_image):
    app = tmp_path / "ensemble"
    shutil.copytree(example_dir, app)
    (app / "shipyard.yaml").write_text(SPEC)
    (app / "score.py").write_text(SCORE)
    (app / "labels.txt").write_text("setosa versicolor virginica\n")
    tag = "shipyard-test-ensemble:latest"
    build_image(load_spec(app), tag, base_image=docker_base_image, extra_ca=host_ca_bundle, client=docker_client,
                runtime_wheel=runtime_wheel)
    try:
        running = run_image(tag)
        sample = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
        response = httpx.post(f"{running.url}/score", json={"data": sample}, timeout=30)

        assert response.status_code == 200, running.logs()
        expected = joblib.load(example_dir / "model" / "model.pkl").predict(np.array(sample)).tolist()
        models = "/var/azureml-app/azureml-models"
        assert response.json() == {
            "classes": [["setosa", "versicolor", "virginica"][index] for index in expected],
            "paths": {"iris": f"{models}/iris/2/model.pkl", "iris_v1": f"{models}/iris/1/model.pkl",
                      "labels": f"{models}/labels/3/labels.txt"},
            "model_dir": models,
        }
    finally:
        docker_client.images.remove(tag, force=True)
