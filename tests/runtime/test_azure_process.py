"""The runtime process behaves as azmlinfsrv 1.5.1: environment, ports, health port, log on stdout.

Real ``python -m shipyard.runtime`` processes on free ports; the fixture scripts report what they saw.
(tests/compat/ checks the same things side by side with the real azmlinfsrv.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.servers import SCRIPTS, RunningServer, free_port, start_server


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[RunningServer]]:
    started: list[RunningServer] = []
    yield started
    for server in started:
        server.stop()


def seen(server: RunningServer, port: int | None = None) -> dict:
    answer = httpx.post(f"http://127.0.0.1:{port or server.port}/score", content=b"{}", timeout=10)
    assert answer.status_code == 200, answer.text
    return json.loads(answer.json())


def test_the_script_sees_azmlinfsrvs_variables(tmp_path, servers):
    (tmp_path / "model").mkdir()
    server = start_server(tmp_path, model_dir=None, entry_script=SCRIPTS / "azure_env_score.py", cwd=tmp_path,
                          env={"SHIPYARD_MODEL_DIR": "./model/", "SERVER_PORT": "1234", "WORKER_COUNT": "1"})
    servers.append(server)

    view = seen(server)

    assert view["import"] == view["run"]  # set before the script is imported
    env = view["import"]
    assert env["AZUREML_MODEL_DIR"] == "./model/"  # exactly as given: not made absolute, not normalised
    assert env["SERVER_PORT"] == env["HEALTH_PORT"] == str(server.port)  # SERVER_PORT=1234 is overwritten
    assert env["AML_APP_ROOT"] == str(tmp_path)  # the working directory
    assert env["AZUREML_ENTRY_SCRIPT"] == str(SCRIPTS / "azure_env_score.py")
    assert (env["WORKER_COUNT"], env["TRANSPORT_PROTOCOL"], env["AML_APP_INSIGHTS_ENABLED"]) == ("1", "grpc", "false")
    assert env["HTTP_X_MS_SERVER_VERSION"].startswith("shipyard/")
    assert "SERVER_PORT=1234 is ignored" in server.log()


def test_without_a_model_folder_azureml_model_dir_stays_unset(tmp_path, servers):
    server = start_server(tmp_path, model_dir=None, entry_script=SCRIPTS / "azure_env_score.py", cwd=tmp_path)
    servers.append(server)

    assert seen(server)["import"]["AZUREML_MODEL_DIR"] is None


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_separate_health_port_answers_the_same_routes(tmp_path, servers, workers):
    health_port = free_port()
    server = start_server(tmp_path, model_dir=None, entry_script=SCRIPTS / "azure_env_score.py",
                          env={"SHIPYARD_HEALTH_PORT": str(health_port), "SHIPYARD_WORKERS": workers})
    servers.append(server)

    for port in (server.port, health_port):
        probe = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert (probe.status_code, probe.text) == (200, "Healthy")
    assert seen(server, health_port)["run"]["HEALTH_PORT"] == str(health_port)


def test_a_taken_health_port_stops_the_server_naming_the_flag(tmp_path, servers):
    server = start_server(tmp_path, model_dir=None, entry_script=SCRIPTS / "azure_env_score.py")
    servers.append(server)
    clash = start_server(tmp_path, model_dir=None, entry_script=SCRIPTS / "azure_env_score.py",
                         env={"SHIPYARD_HEALTH_PORT": str(server.port)}, wait=False)
    servers.append(clash)

    assert clash.wait_exit() == 8
    assert f"cannot listen on 127.0.0.1:{server.port}" in clash.log() and "--health-port" in clash.log()


def run_apart(tmp_path: Path, script: str, *, score_once: bool) -> tuple[str, str]:
    """Run a runtime with stdout and stderr kept apart: until it exits, or until it has scored once."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AZUREML_", "AML_"))}
    env.update({"SHIPYARD_HOST": "127.0.0.1", "SHIPYARD_PORT": str(port), "PYTHONUNBUFFERED": "1",
                "SHIPYARD_ENTRY_SCRIPT": str(SCRIPTS / script)})
    process = subprocess.Popen([sys.executable, "-m", "shipyard.runtime"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=tmp_path)
    server = RunningServer(process=process, port=port, log_path=tmp_path / "not-used.log")
    try:
        if score_once:
            server.wait_ready()
            httpx.post(server.url + "/score", content=b"{}", timeout=10)
            server.stop()
        return process.communicate(timeout=60)
    finally:
        server.stop()


def test_the_server_log_goes_to_stdout_like_azmlinfsrvs(tmp_path):
    out, err = run_apart(tmp_path, "azure_env_score.py", score_once=True)

    assert "Shipyard runtime: model" in out and "init() of azure_env_score.py ran" in out
    assert "POST /score" in out  # the access log too
    assert "Shipyard runtime" not in err


def test_an_init_failure_is_logged_on_stdout(tmp_path):
    out, err = run_apart(tmp_path, "init_raises_score.py", score_once=False)

    assert "ValueError: model.pkl not found in AZUREML_MODEL_DIR" in out
    assert "Traceback" in out
    assert err.startswith("error: ")  # the one-line summary of the exit, as every shipyard command gives
