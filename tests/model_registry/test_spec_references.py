"""A spec may name a registered model without a path: it comes from the model registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.builder import load_spec
from shipyard.builder.render import render_dockerfile
from shipyard.errors import SpecError
from shipyard.model_registry import LocalModelStore

SCORE = "def init():\n    pass\n\ndef run(data):\n    return data\n"


@pytest.fixture
def store(tmp_path, monkeypatch) -> LocalModelStore:
    monkeypatch.setenv("SHIPYARD_MODEL_REGISTRY", str(tmp_path / "store"))
    store = LocalModelStore(tmp_path / "store")
    for number in (1, 2):
        model = tmp_path / f"v{number}" / "model"
        model.mkdir(parents=True)
        (model / "weights.txt").write_text(f"weights {number}")
        store.register("fraud", model)
    return store


def _spec(folder: Path, models: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "score.py").write_text(SCORE)
    (folder / "shipyard.yaml").write_text(f"name: service\nentry_script: score.py\nmodels:\n{models}")
    return folder


def test_a_registered_model_without_a_path_is_fetched_into_the_spec_folder(tmp_path, store):
    folder = _spec(tmp_path / "spec", "  - {name: fraud, version: 1}\n")
    (entry,) = load_spec(folder).models
    assert (entry.name, entry.version) == ("fraud", 1)
    assert entry.path == (folder / ".shipyard-models" / "fraud" / "1" / "model").resolve()
    assert (entry.path / "weights.txt").read_text() == "weights 1"
    assert "azureml-models/fraud/1" in render_dockerfile(load_spec(folder))

    store.delete("fraud", 1)  # the second load uses what the first one fetched
    assert load_spec(folder).models[0].path == entry.path


def test_without_a_version_the_latest_is_taken(tmp_path, store):
    (entry,) = load_spec(_spec(tmp_path / "spec", "  - {name: fraud}\n")).models
    assert entry.version == 2 and (entry.path / "weights.txt").read_text() == "weights 2"


def test_a_model_the_registry_lacks_stops_the_spec_naming_the_entry(tmp_path, store):
    folder = _spec(tmp_path / "spec", "  - {name: fraud, version: 9}\n")
    with pytest.raises(SpecError) as caught:
        load_spec(folder)
    assert caught.value.field == "models.0" and caught.value.line == 4
    assert "no version 9" in str(caught.value) and "model registry" in str(caught.value)
