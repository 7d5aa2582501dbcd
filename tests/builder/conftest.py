"""Helpers for builder tests: write a small spec folder and load it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from shipyard.builder import DeploymentSpec, load_spec

SCORE = "def init():\n    pass\n\n\ndef run(raw_data):\n    return raw_data\n"
CONDA = """\
name: test-env
channels: [conda-forge]
dependencies:
  - python=3.11
  - pip
  - scikit-learn=1.9.1
  - pip:
      - azureml-defaults
      - joblib
"""


@pytest.fixture
def make_spec(tmp_path: Path) -> Callable[..., DeploymentSpec]:
    """Write shipyard.yaml (plus model.pkl, score.py, environment.yml) into tmp_path and load it."""

    def make(yaml_text: str | None = None, *, environment: str = CONDA, files: dict[str, str] | None = None
             ) -> DeploymentSpec:
        (tmp_path / "model").mkdir(exist_ok=True)
        (tmp_path / "model" / "model.pkl").write_bytes(b"not really a pickle")
        (tmp_path / "score.py").write_text(SCORE)
        (tmp_path / "environment.yml").write_text(environment)
        for name, content in (files or {}).items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(content)
        text = yaml_text if yaml_text is not None else """\
            name: iris
            models: [model/model.pkl]
            entry_script: score.py
            environment: environment.yml
            """
        (tmp_path / "shipyard.yaml").write_text(textwrap.dedent(text))
        return load_spec(tmp_path)

    return make
