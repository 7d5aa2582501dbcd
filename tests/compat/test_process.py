"""What the process gives a script, side by side with azmlinfsrv 1.5.1: environment, ports, health port, log.

Each case starts the real azmlinfsrv and Shipyard with the same script, flags and environment; the
script (scripts/environment_score.py) answers what it saw, so the body comparison covers it.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.azmlinfsrv import ServerPair, exchange, start_reference
from tests.fixtures.servers import free_port, start_server

SCRIPTS = Path(__file__).resolve().parent / "scripts"
ENVIRONMENT_SCRIPT = SCRIPTS / "environment_score.py"


@pytest.mark.parametrize("env", [
    pytest.param({"AZUREML_MODEL_DIR": "./model/", "SERVER_PORT": "1", "WORKER_COUNT": "1"},
                 id="relative-model-dir-and-a-stale-server-port"),
    pytest.param({}, id="no-model-dir"),
    pytest.param({"AML_APP_INSIGHTS_ENABLED": "true", "AML_APP_INSIGHTS_KEY": "not-a-uuid",
                  "SERVER_VERSION_LOG_RESPONSE_ENABLED": "false"}, id="app-insights-with-a-bad-key-version-off"),
])
def test_the_environment_the_script_sees(differential_servers, env: dict[str, str]) -> None:
    pair = differential_servers(ENVIRONMENT_SCRIPT, env=env)

    answer = exchange(pair, "POST", "/score", content=b"{}").assert_same()

    seen = answer.shipyard.json()
    assert seen["import"] == seen["init"] and seen["reached_on"] == "server_port"
    assert seen["import"]["AZUREML_MODEL_DIR"] == env.get("AZUREML_MODEL_DIR")  # verbatim, or unset
    assert seen["import"]["AML_APP_INSIGHTS_ENABLED"] == "false"


def test_the_model_dir_flag_reaches_the_script_as_given(differential_servers, tmp_path_factory) -> None:
    models = tmp_path_factory.mktemp("app") / "azureml-models"
    (models / "iris" / "1").mkdir(parents=True)
    pair = differential_servers(ENVIRONMENT_SCRIPT, model_dir=models)

    answer = exchange(pair, "POST", "/score", content=b"{}").assert_same()

    assert answer.shipyard.json()["import"]["AZUREML_MODEL_DIR"] == str(models)


@pytest.fixture(scope="module")
def health_port_pair(azmlinfsrv_python: Path, tmp_path_factory) -> Iterator[tuple[ServerPair, ServerPair]]:
    """Both servers with a separate health port: (main ports pair, health ports pair)."""
    log_dir = tmp_path_factory.mktemp("health-port")
    reference_health, shipyard_health = free_port(), free_port()
    switch = {"SEPERATE_HEALTH_ENDPOINT": "true"}
    reference = start_reference(azmlinfsrv_python, log_dir, entry_script=ENVIRONMENT_SCRIPT, model_dir=None,
                                app_root=SCRIPTS, env=switch, args=["--health_port", str(reference_health)])
    try:
        shipyard = start_server(log_dir, model_dir=None, entry_script=ENVIRONMENT_SCRIPT, cwd=SCRIPTS,
                                env={**switch, "SHIPYARD_APP_ROOT": str(SCRIPTS),
                                     "SHIPYARD_HEALTH_PORT": str(shipyard_health)}, wait=False)
        shipyard.wait_ready(path="/")
    except BaseException:
        reference.stop()
        raise
    main = ServerPair(reference=reference, shipyard=shipyard)
    yield main, ServerPair(reference=dataclasses.replace(reference, port=reference_health),
                           shipyard=dataclasses.replace(shipyard, port=shipyard_health))
    main.stop()


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("POST", "/score")])
def test_the_health_port_serves_the_same_routes(health_port_pair, method: str, path: str) -> None:
    _, health = health_port_pair

    exchange(health, method, path, content=b"{}" if method == "POST" else None).assert_same()


def test_health_port_variables(health_port_pair) -> None:
    main, health = health_port_pair

    on_main = exchange(main, "POST", "/score", content=b"{}").assert_same().shipyard.json()
    on_health = exchange(health, "POST", "/score", content=b"{}").assert_same().shipyard.json()

    assert (on_main["reached_on"], on_health["reached_on"]) == ("server_port", "health_port")
    assert on_main["health_port_is_server_port"] is False


def run_until_exit(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_init_output_and_failure_are_logged_on_stdout_by_both(azmlinfsrv_python: Path) -> None:
    script = SCRIPTS / "init_prints_and_fails_score.py"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AZUREML_", "AML_", "SHIPYARD_"))}
    env.update({"PYTHONUNBUFFERED": "1", "AML_APP_ROOT": str(SCRIPTS)})
    reference = run_until_exit([str(azmlinfsrv_python.parent / "azmlinfsrv"), "--entry_script", str(script),
                                "--port", str(free_port())], env, SCRIPTS)
    shipyard = run_until_exit([sys.executable, "-m", "shipyard.runtime"],
                              {**env, "SHIPYARD_ENTRY_SCRIPT": str(script), "SHIPYARD_HOST": "127.0.0.1",
                               "SHIPYARD_PORT": str(free_port())}, SCRIPTS)

    assert reference.returncode == shipyard.returncode == 3
    for completed in (reference, shipyard):
        assert "loading the model from init_prints_and_fails_score.py" in completed.stdout
        assert "RuntimeError: the model file is corrupt (compat fixture)" in completed.stdout
        assert "Traceback (most recent call last)" in completed.stdout
