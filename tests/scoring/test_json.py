"""The response encoder handles what scripts return: numpy of any layout and dtype, sets, bytes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shipyard.scoring import json_codec


@pytest.mark.parametrize(("value", "expected"), [
    (np.arange(6).reshape(2, 3).T, [[0, 3], [1, 4], [2, 5]]),  # not C-contiguous
    (np.array([0.5, 1.5], dtype=np.float16), [0.5, 1.5]),
    (np.float16(2.5), 2.5),
    (np.array(["a", "b"]), ["a", "b"]),
    (np.array([b"x", "y"], dtype=object), ["x", "y"]),
    ({1: np.bool_(True)}, {"1": True}),
    ({"tags": {"only"}}, {"tags": ["only"]}),
    ("text", "text"),
])
def test_dumps_matches_what_json_would_produce_for_plain_data(value, expected):
    assert json.loads(json_codec.dumps(value)) == expected


def test_unencodable_objects_raise_type_error():
    with pytest.raises(TypeError, match="object is not JSON serializable|Type is not JSON serializable"):
        json_codec.dumps(object())


def test_loads_accepts_nan_written_by_json_dumps():
    assert np.isnan(json_codec.loads(json.dumps({"x": float("nan")}))["x"])


def test_stdlib_fallback_without_orjson(monkeypatch):
    import importlib.util
    import sys

    monkeypatch.setitem(sys.modules, "orjson", None)  # makes "import orjson" fail
    spec = importlib.util.spec_from_file_location("shipyard_json_without_orjson", json_codec.__file__)
    fallback = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fallback)

    assert fallback.orjson is None
    assert json.loads(fallback.dumps({"a": np.arange(3, dtype=np.int32).reshape(3, 1).T})) == {"a": [[0, 1, 2]]}
    assert fallback.loads(b'{"x": [1]}') == {"x": [1]}
