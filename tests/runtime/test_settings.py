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
    assert settings.model_dir == "/var/azureml-app/model"
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
    with pytest.raises(ServerStartError, match=r"SHIPYARD_SCORING_MODE: .*'auto', 'thread' or 'inline'"):
        load_settings()


def test_an_azure_name_that_fails_is_named_with_its_shipyard_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIPYARD_WORKERS", raising=False)
    monkeypatch.setenv("WORKER_COUNT", "0")
    with pytest.raises(ServerStartError, match=r"SHIPYARD_WORKERS or WORKER_COUNT: .*greater than or equal to 1"):
        load_settings()


def test_azure_scoring_timeout_in_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIPYARD_REQUEST_TIMEOUT_S", raising=False)
    monkeypatch.setenv("SCORING_TIMEOUT_MS", "1500")
    assert load_settings().request_timeout_s == 1.5
    monkeypatch.setenv("SHIPYARD_REQUEST_TIMEOUT_S", "7")
    assert load_settings().request_timeout_s == 7.0  # the Shipyard name wins
    assert load_settings(request_timeout_s=3.0).request_timeout_s == 3.0  # and a flag over both
    monkeypatch.setenv("SCORING_TIMEOUT_MS", "-5")
    with pytest.raises(ServerStartError, match=r"SCORING_TIMEOUT_MS: Input should be greater than 0"):
        load_settings()


def test_server_port_is_not_read_like_azmlinfsrv_and_azure_log_level_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIPYARD_PORT", raising=False)
    monkeypatch.delenv("SHIPYARD_LOG_LEVEL", raising=False)
    monkeypatch.setenv("SERVER_PORT", "6000")  # azmlinfsrv 1.5.1 overwrites it with --port or 5001
    monkeypatch.setenv("AZUREML_LOG_LEVEL", "DEBUG")  # Azure's spelling
    settings = load_settings()
    assert (settings.port, settings.log_level) == (5001, "debug")
    monkeypatch.setenv("AZUREML_LOG_LEVEL", "LOUD")
    with pytest.raises(ServerStartError, match=r"SHIPYARD_LOG_LEVEL or AZUREML_LOG_LEVEL: .*'debug', 'info'"):
        load_settings()


def test_model_dir_is_kept_verbatim_and_unset_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SHIPYARD_MODEL_DIR", "AZUREML_MODEL_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert load_settings().model_dir is None
    assert str(load_settings().model_path) == "."
    assert load_settings(model_dir="./model/").model_dir == "./model/"  # not normalised, not made absolute


def test_health_port_from_the_flag_or_azmlinfsrvs_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SHIPYARD_HEALTH_PORT", "SEPERATE_HEALTH_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert load_settings().resolved_health_port is None
    assert load_settings(health_port=5050).resolved_health_port == 5050
    monkeypatch.setenv("SEPERATE_HEALTH_ENDPOINT", "True")  # azmlinfsrv compares with "true" exactly
    assert load_settings().resolved_health_port is None
    monkeypatch.setenv("SEPERATE_HEALTH_ENDPOINT", "true")
    assert load_settings().resolved_health_port == 5000
    assert load_settings(health_port=5050).resolved_health_port == 5050
