"""The local model store: versions, tags, integrity, and several processes registering at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli import app
from shipyard.errors import ModelIntegrityError, RegistryError
from shipyard.model_registry import LocalModelStore, open_registry, parse_reference

runner = CliRunner()


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(os.urandom(3000))
    (folder / "sub" / "vocab.txt").write_text("a\nb\n")
    return folder


def test_versions_increment_and_files_come_back_identical(tmp_path, model_dir):
    store = LocalModelStore(tmp_path / "store")
    first = store.register("fraud", model_dir, tags=["stage=dev"])
    second = store.register("fraud", model_dir / "weights.bin")
    assert (first.version, second.version) == (1, 2)
    assert (first.kind, second.kind) == ("folder", "file")
    assert store.show("fraud").version == 2 and store.show("fraud", 1).tags == {"stage": "dev"}
    assert [m.reference for m in store.list_versions()] == ["fraud:1", "fraud:2"]
    # the same content is stored once
    assert len(list((tmp_path / "store" / "blobs" / "sha256").glob("*/*"))) == 2

    out = store.download("fraud", 1, tmp_path / "out")
    assert out == tmp_path / "out" / "model"  # the registered folder keeps its name, as in Azure ML
    assert (out / "weights.bin").read_bytes() == (model_dir / "weights.bin").read_bytes()
    assert (out / "sub" / "vocab.txt").read_text() == "a\nb\n"
    single = store.download("fraud", 2, tmp_path / "out2")
    assert single == tmp_path / "out2" / "weights.bin" and single.is_file()


def test_explicit_versions_and_deletes(tmp_path, model_dir):
    store = LocalModelStore(tmp_path / "store")
    store.register("fraud", model_dir, version=5)
    with pytest.raises(RegistryError, match="already has version 5"):
        store.register("fraud", model_dir, version=5)
    assert store.register("fraud", model_dir / "sub").version == 6
    store.delete("fraud", 5)
    with pytest.raises(RegistryError, match="no version 5"):
        store.show("fraud", 5)
    blobs = list((tmp_path / "store" / "blobs" / "sha256").glob("*/*"))
    assert len(blobs) == 1  # weights.bin's blob went with version 5; vocab.txt's is still used
    store.delete("fraud", 6)
    assert store.list_versions() == [] and not list((tmp_path / "store" / "blobs" / "sha256").glob("*/*"))


def test_a_corrupted_blob_is_refused(tmp_path, model_dir):
    store = LocalModelStore(tmp_path / "store")
    model = store.register("fraud", model_dir)
    weights = next(f for f in model.files if f.path.endswith("weights.bin"))
    blob = tmp_path / "store" / "blobs" / "sha256" / weights.sha256[:2] / weights.sha256
    data = bytearray(blob.read_bytes())
    data[10] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="weights.bin' is corrupted"):
        store.download("fraud", 1, tmp_path / "out")
    assert not (tmp_path / "out" / "model").exists()  # nothing half-written is left


def test_concurrent_registrations_from_several_processes_get_distinct_versions(tmp_path):
    store = tmp_path / "store"
    files = []
    for index in range(6):
        path = tmp_path / f"model-{index}.bin"
        path.write_bytes(f"model {index}".encode() * 1000)
        files.append(path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    processes = [subprocess.Popen([sys.executable, "-m", "shipyard", "model", "register", "shared", str(path),
                                   "--registry", str(store), "--json"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env) for path in files]
    results = [process.communicate(timeout=120) for process in processes]
    assert all(process.returncode == 0 for process in processes), results
    versions = sorted(json.loads(out)["version"] for out, _ in results)
    assert versions == [1, 2, 3, 4, 5, 6]
    registry = LocalModelStore(store)
    assert len(registry.list_versions("shared")) == 6
    for version in registry.list_versions("shared"):  # each version holds the file it was registered from
        out = registry.download("shared", version.version, tmp_path / f"out-{version.version}")
        assert out.read_bytes() in {path.read_bytes() for path in files}
    assert len({registry.show("shared", v).files[0].sha256 for v in versions}) == 6


def test_references_and_bad_names():
    assert parse_reference("fraud:3") == ("fraud", 3)
    assert parse_reference("azureml:fraud:3") == ("fraud", 3)
    assert parse_reference("fraud@latest") == ("fraud", None)
    assert parse_reference("fraud") == ("fraud", None)
    with pytest.raises(RegistryError, match="positive whole number"):
        parse_reference("fraud:v1")
    with pytest.raises(RegistryError, match="not valid"):
        LocalModelStore("/nonexistent").register("Bad Name", Path("."))


def test_cli_round_trip(tmp_path, model_dir):
    store = str(tmp_path / "store")
    result = runner.invoke(app, ["model", "register", "fraud", str(model_dir), "--tag", "stage=prod",
                                 "--registry", store])
    assert result.exit_code == 0 and "fraud:1" in result.output and "stage=prod" in result.output
    result = runner.invoke(app, ["model", "show", "fraud", "--registry", store])
    assert json.loads(result.output)["version"] == 1
    result = runner.invoke(app, ["model", "download", "fraud:1", "-o", str(tmp_path / "dl"), "--registry", store])
    assert result.exit_code == 0 and (tmp_path / "dl" / "model" / "weights.bin").is_file()
    result = runner.invoke(app, ["model", "delete", "fraud:1", "--registry", store])
    assert result.exit_code == 0
    result = runner.invoke(app, ["model", "show", "fraud:1", "--registry", store])
    assert result.exit_code != 0
    assert open_registry(store).list_versions() == []
