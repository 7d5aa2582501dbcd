"""One install hint everywhere: the extras Shipyard names exist in pyproject.toml, and a missing
optional library is reported with them."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from shipyard.extras import EXTRAS, install_hint

ROOT = Path(__file__).resolve().parents[1]


def test_the_extras_named_are_the_extras_pyproject_defines() -> None:
    defined = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert sorted(EXTRAS) == sorted(defined)
    assert install_hint("onnx") == "pip install 'shipyard[onnx]'"
    with pytest.raises(KeyError, match="no extra named 'onxx'"):
        install_hint("onxx")


def test_serving_an_onnx_file_without_onnxruntime_says_which_extra_to_install(tmp_path: Path) -> None:
    """A real load in a fresh interpreter where ``import onnxruntime`` fails, as after a plain install."""
    (tmp_path / "model.onnx").write_bytes(b"not read: the import fails first")
    program = (
        "import sys; sys.modules['onnxruntime'] = None\n"  # what a missing package looks like to import
        "from pathlib import Path\n"
        "from shipyard.errors import ModelLoadError\n"
        "from shipyard.scoring import ModelInfo, load_scorer\n"
        f"try: load_scorer(ModelInfo(name='m', version='1', model_dir=Path({str(tmp_path)!r})))\n"
        "except ModelLoadError as exc: print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert "serving .onnx files needs onnxruntime: pip install 'shipyard[onnx]'" in result.stdout, result.stderr
