"""Fixtures for scorer tests: load a fixture ``score.py`` in-process, build requests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shipyard.scoring import ModelInfo, Scorer, ScoreRequest, load_scorer

SCRIPTS = Path(__file__).resolve().parents[1] / "fixtures" / "scripts"
AZURE_VARIABLES = ("AZUREML_MODEL_DIR", "AML_APP_ROOT", "AZUREML_ENTRY_SCRIPT")


def score_request(
    body: bytes | str = b"",
    *,
    method: str = "POST",
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
    query: list[tuple[str, str]] | None = None,
    path: str = "/score",
) -> ScoreRequest:
    """A request as the runtime would hand it over (lower-case header names, like ASGI)."""
    all_headers = {"host": "testserver"}
    if content_type:
        all_headers["content-type"] = content_type
    all_headers.update({key.lower(): value for key, value in (headers or {}).items()})
    return ScoreRequest(
        method=method,
        path=path,
        headers=all_headers,
        query=query or [],
        body=body.encode("utf-8") if isinstance(body, str) else body,
        request_id="test-request",
    )


@pytest.fixture(autouse=True)
def _azure_environment() -> Iterator[None]:
    """Each test starts without the Azure variables a previous load exported."""
    saved = {name: os.environ.pop(name, None) for name in AZURE_VARIABLES}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.txt").write_text("pretend weights")
    return folder


@pytest.fixture
def load_script(model_dir: Path) -> Callable[[str], Scorer]:
    """``load_script("echo_score.py")`` → a loaded scorer for that fixture script."""

    def load(name: str, **info_fields) -> Scorer:
        info = ModelInfo(name="fixture", version="3", model_dir=model_dir, entry_script=SCRIPTS / name, **info_fields)
        return load_scorer(info)

    return load
