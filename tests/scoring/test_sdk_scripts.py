"""SDK v1 scoring scripts run unchanged with no Azure package installed, served by a real runtime.

The models sit in the layout a v1 service had, ``azureml-models/<name>/<version>/<registered
file or folder>``, and ``--model-dir`` (here ``SHIPYARD_MODEL_DIR``) names that folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.servers import SCRIPTS, RunningServer, start_server


@pytest.fixture
def servers() -> Iterator[list[RunningServer]]:
    started: list[RunningServer] = []
    yield started
    for server in started:
        server.stop()


def registered(models: Path, name: str, version: int, source: Path | None = None, text: str = "") -> Path:
    folder = models / name / str(version)
    folder.mkdir(parents=True)
    if source is not None and source.is_dir():
        shutil.copytree(source, folder / source.name)
    elif source is not None:
        shutil.copy(source, folder / source.name)
    else:
        (folder / "model.txt").write_text(text)
    return folder


def test_multi_model_script_finds_each_model_by_name_and_version(tmp_path, servers):
    models = tmp_path / "azureml-models"
    registered(models, "iris", 1, text="iris one")
    registered(models, "iris", 2, text="iris two")
    weights = tmp_path / "encoder-files"
    weights.mkdir()
    (weights / "vocab.txt").write_text("a b c")
    registered(models, "encoder", 5, source=weights)
    server = start_server(tmp_path, model_dir=models, entry_script=SCRIPTS / "multi_model_score.py",
                          cwd=tmp_path)
    servers.append(server)

    answer = httpx.post(server.url + "/score", content=b"{}", timeout=10)

    assert answer.status_code == 200, server.log()
    assert answer.json() == {
        "paths": {"iris": "iris/2/model.txt", "iris_v1": "iris/1/model.txt", "encoder": "encoder/5/encoder-files"},
        "iris": "iris two",
        "model_dir": str(models),
    }


def test_a_missing_model_fails_init_naming_it_and_the_folders_searched(tmp_path, servers):
    models = tmp_path / "azureml-models"
    registered(models, "iris", 1, text="only iris")
    server = start_server(tmp_path, model_dir=models, entry_script=SCRIPTS / "multi_model_score.py",
                          cwd=tmp_path, wait=False)
    servers.append(server)

    assert server.wait_exit() == 3
    log = server.log()
    assert "ModelNotFoundException: model 'encoder' not found; searched:" in log
    assert str(models / "encoder") in log


def test_onnx_script_with_import_azureml_core(tmp_path, servers, add_model_dir):
    pytest.importorskip("onnxruntime")
    models = tmp_path / "azureml-models"
    folder = registered(models, "adder", 1, source=add_model_dir / "nested" / "add.onnx")
    server = start_server(tmp_path, model_dir=folder, entry_script=SCRIPTS / "onnx_sdk_score.py", cwd=tmp_path)
    servers.append(server)

    answer = httpx.post(server.url + "/score", json={"x": [[1, 2, 3]], "y": [[10, 20, 30]]}, timeout=10)

    assert answer.status_code == 200, server.log()
    assert answer.json() == {"sum": [[11.0, 22.0, 33.0]]}
