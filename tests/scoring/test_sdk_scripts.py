"""SDK v1 scoring scripts run unchanged with no Azure package installed, served by a real runtime.

The models sit in the layout a v1 service had, ``azureml-models/<name>/<version>/<registered
file or folder>``, and ``--model-dir`` (here ``SHIPYARD_MODEL_DIR``) names that folder.
"""

from __future__ import annotations

import json
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


@pytest.mark.parametrize("workers", ["1", "2"])
def test_data_collection_writes_each_requests_rows_with_its_request_id(tmp_path, servers, workers):
    collected = tmp_path / "collected"
    server = start_server(tmp_path, model_dir=None, entry_script=SCRIPTS / "data_collection_score.py", cwd=tmp_path,
                          env={"SHIPYARD_DATA_COLLECTION_DIR": str(collected), "SHIPYARD_WORKERS": workers})
    servers.append(server)

    for request_id, rows in (("req-one", [[1, 2]]), ("req-two", [[3, 4], [5, 6]])):
        answer = httpx.post(server.url + "/score", json={"data": rows}, headers={"x-request-id": request_id}, timeout=10)
        assert answer.status_code == 200 and answer.json()["collecting"] is True, server.log()
    server.stop()  # the writer drains its queue at exit

    records = [json.loads(line) for path in sorted(collected.rglob("*.jsonl")) for line in path.read_text().splitlines()]
    inputs = [(r["request_id"], r["data"]) for r in records if r["designation"] == "inputs"]
    assert sorted(inputs) == [("req-one", [[1, 2]]), ("req-two", [[3, 4], [5, 6]])]
    predictions = {r["request_id"]: r["data"] for r in records if r["designation"] == "predictions"}
    assert predictions["req-two"][:2] == [[7], [11]] and len(predictions["req-two"]) == 2 + 8  # + correlations
    assert {path.parent.parent.parent.parent.name for path in collected.rglob("*.jsonl")} == {"inputs", "predictions"}


def test_data_collection_is_off_by_default(tmp_path, servers):
    server = start_server(tmp_path, model_dir=None, entry_script=SCRIPTS / "data_collection_score.py", cwd=tmp_path)
    servers.append(server)

    answer = httpx.post(server.url + "/score", json={"data": [[1, 2]]}, timeout=10)

    assert answer.json() == {"sums": [[3]], "collecting": False}
    assert not list(tmp_path.rglob("*.jsonl"))
