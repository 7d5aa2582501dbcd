"""Runtime settings: Shipyard's variables, the Azure names users already set, and clear errors."""

from __future__ import annotations

import pytest

from shipyard.errors import ServerStartError
from shipyard.runtime.settings import load_settings


def test_azure_variable_names_work_and_shipyard_names_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_COUNT", "3")
    monkeypatch.setenv("AML_CORS_ORIGINS", "https://a.example.com, https://b.example.com")
    monkeypatch.setenv("AZUREML_MODEL_DIR", "/var/azureml-app/model")
    settings = load_settings()
    assert settings.workers == 3
    assert settings.cors_origins == ["https://a.example.com", "https://b.example.com"]
    assert str(settings.model_dir) == "/var/azureml-app/model"
    monkeypatch.setenv("SHIPYARD_WORKERS", "2")
    assert load_settings().workers == 2
    assert load_settings(workers=5).workers == 5  # a flag wins over both


def test_defaults_serve_like_azure_with_auto_scoring(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORKER_COUNT", "SHIPYARD_WORKERS", "AML_CORS_ORIGINS", "SHIPYARD_SCORING_MODE", "SHIPYARD_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert (settings.port, settings.workers, settings.scoring_threads) == (5001, 1, 1)
    assert settings.scoring_mode == "auto" and settings.cors_origins == []


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_SCORING_MODE", "turbo")
    with pytest.raises(ServerStartError, match=r"SHIPYARD_SCORING_MODE \(scoring_mode\).*'auto', 'thread' or 'inline'"):
        load_settings()
