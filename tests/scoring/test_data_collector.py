"""``ModelDataCollector`` writes JSON lines when asked to, and never slows or fails a request."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from shipyard.runtime.middleware import REQUEST_ID
from shipyard.scoring.entry_script import data_collector
from shipyard.scoring.entry_script.data_collector import DIR_VARIABLE, ModelDataCollector


def lines(folder: Path) -> list[dict]:
    assert data_collector.flush(5.0)
    return [json.loads(line) for path in sorted(folder.rglob("*.jsonl")) for line in path.read_text().splitlines()]


def test_off_by_default_collects_nothing_and_returns_none(monkeypatch, tmp_path):
    monkeypatch.delenv(DIR_VARIABLE, raising=False)
    collector = ModelDataCollector("iris", designation="inputs", feature_names=["a", "b"])

    assert not collector.enabled
    assert collector.collect([[1, 2]]) is None
    assert list(tmp_path.iterdir()) == []


def test_inputs_and_predictions_land_as_json_lines_with_request_id_and_time(monkeypatch, tmp_path):
    monkeypatch.setenv(DIR_VARIABLE, str(tmp_path))
    inputs = ModelDataCollector("iris", designation="inputs", feature_names=["a", "b"], model_version="3")
    predictions = ModelDataCollector("iris", designation="predictions", model_version="3")
    token = REQUEST_ID.set("req-123")
    try:
        correlations = inputs.collect(np.array([[1.5, 2.0]], dtype=np.float32), user_correlation_id="batch7")
        predictions.collect(predictions.add_correlations([0], correlations))
    finally:
        REQUEST_ID.reset(token)

    first, second = sorted(lines(tmp_path), key=lambda record: record["designation"])
    assert first["designation"] == "inputs" and first["data"] == [[1.5, 2.0]]
    assert first["feature_names"] == ["a", "b"] and first["request_id"] == "req-123"
    assert first["correlation_id"].startswith("batch7-") and first["time"].endswith("Z")
    assert correlations["$aml_request_id"] == "req-123"
    assert second["data"][0] == 0 and correlations["$aml_dc_correlation_id"] in second["data"]
    day = first["time"][:10].split("-")
    assert (tmp_path / "iris" / "3" / "inputs" / day[0] / day[1] / day[2] / "inputs.jsonl").is_file()


def test_outside_a_request_the_request_id_is_azures_zero_id(monkeypatch, tmp_path):
    monkeypatch.setenv(DIR_VARIABLE, str(tmp_path))
    ModelDataCollector("iris", designation="signals", collection_name="drift").collect({"mean": 0.5})

    (record,) = lines(tmp_path)
    assert record["request_id"] == "00000000-0000-0000-0000-000000000000"
    assert record["data"] == {"mean": 0.5}
    assert next(tmp_path.rglob("*.jsonl")).name == "drift.jsonl"


def test_a_full_queue_drops_and_counts_instead_of_blocking(monkeypatch, tmp_path):
    """The writer is stuck opening a FIFO nobody reads; collect() keeps returning at once."""
    monkeypatch.setenv(DIR_VARIABLE, str(tmp_path))
    writer = data_collector._writer()
    monkeypatch.setattr(writer.queue, "maxsize", 3)
    collector = ModelDataCollector("iris", designation="inputs")
    target = collector._path()
    target.parent.mkdir(parents=True)
    os.mkfifo(target)
    before = data_collector.dropped_records()

    collector.collect([0])  # the writer takes this one and blocks in open()
    deadline = time.monotonic() + 5
    while writer.queue.qsize() and time.monotonic() < deadline:
        time.sleep(0.01)
    for value in range(10):  # 3 fit in the queue, 7 are dropped (a blocking put() would hang here)
        collector.collect([value])

    with open(target, "rb") as fifo:  # unblock the writer and read all it writes
        monkeypatch.setattr(writer.queue, "maxsize", 10_000)
        assert data_collector.flush(5.0)
        received = fifo.read()
    assert data_collector.dropped_records() - before == 7
    assert len(received.splitlines()) == 4


def test_unwritable_folder_and_odd_data_never_raise(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(DIR_VARIABLE, str(blocker))

    collector = ModelDataCollector("iris", designation="general")
    assert collector.collect([object()]) is None  # written with str() for what JSON cannot hold
    assert data_collector.flush(5.0)


@pytest.mark.parametrize("designation", ["bogus"])
def test_an_unknown_designation_collects_nothing(monkeypatch, tmp_path, designation):
    monkeypatch.setenv(DIR_VARIABLE, str(tmp_path))

    assert ModelDataCollector("iris", designation=designation).collect([1]) is None
    assert lines(tmp_path) == []
