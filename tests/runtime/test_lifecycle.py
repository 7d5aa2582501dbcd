"""Processes and signals: workers each run init(), SIGTERM drains, a bad model exits non-zero."""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.servers import SCRIPTS, RunningServer, free_port


@pytest.fixture
def pid_dir(tmp_path: Path) -> Path:
    """Where runtime_pid_score.py's init() leaves one file per call."""
    folder = tmp_path / "pids"
    folder.mkdir()
    return folder


def _sigterm_while_busy(server: RunningServer) -> httpx.Response:
    """SIGTERM the server while a 1.5 s request is inside run(); return that request's answer."""
    answers: list[httpx.Response] = []
    thread = threading.Thread(
        target=lambda: answers.append(httpx.post(server.url + "/score", json={"sleep": 1.5}, timeout=30))
    )
    thread.start()
    time.sleep(0.7)  # the request is inside run() now
    server.process.send_signal(signal.SIGTERM)
    thread.join(timeout=30)
    return answers[0]


def test_two_workers_each_run_init_once_and_drain_on_sigterm(start_runtime, pid_dir: Path) -> None:  # type: ignore[no-untyped-def]
    server = start_runtime(entry_script=SCRIPTS / "runtime_pid_score.py",
                           env={"SHIPYARD_WORKERS": "2", "PID_DIR": str(pid_dir)})
    deadline = time.monotonic() + 20
    while len(list(pid_dir.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    init_pids = sorted(int(path.read_text()) for path in pid_dir.iterdir())
    assert len(init_pids) == 2 and len(set(init_pids)) == 2, init_pids  # one init() per worker process
    answered = {httpx.post(server.url + "/score", content=b"{}").json()["pid"] for _ in range(30)}
    assert answered == set(init_pids)

    slow = _sigterm_while_busy(server)
    assert slow.status_code == 200 and slow.json()["slept"] == 1.5
    assert server.wait_exit(timeout=20) == 0  # a drained stop is a clean exit
    assert sorted(int(path.read_text()) for path in pid_dir.iterdir()) == init_pids  # nobody re-ran init()


def test_sigterm_lets_an_in_flight_request_finish(start_runtime, pid_dir: Path) -> None:  # type: ignore[no-untyped-def]
    server = start_runtime(entry_script=SCRIPTS / "runtime_pid_score.py", env={"PID_DIR": str(pid_dir)})
    slow = _sigterm_while_busy(server)
    assert slow.status_code == 200 and slow.json()["slept"] == 1.5
    assert server.wait_exit(timeout=20) == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/", timeout=2)  # and it is gone


@pytest.mark.parametrize("script", ["syntax_error_score.py", "init_raises_score.py"])
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_script_that_cannot_load_exits_non_zero_with_the_reason(start_runtime, script: str, workers: str) -> None:  # type: ignore[no-untyped-def]
    server = start_runtime(entry_script=SCRIPTS / script, env={"SHIPYARD_WORKERS": workers}, wait=False)
    code = server.wait_exit(timeout=30)
    log = server.log()
    assert code == 3, log
    assert "Traceback (most recent call last)" in log
    expected = "SyntaxError" if script.startswith("syntax") else "ValueError: model.pkl not found in AZUREML_MODEL_DIR"
    assert expected in log
    last_line = log.strip().splitlines()[-1]
    assert last_line.startswith("error: ") and "the server stopped without serving" in last_line
    if workers == "2":
        assert "Started worker 2" not in log and log.count("Started worker") == 2  # no restart loop


def test_readiness_waits_for_init_while_liveness_answers(start_runtime, pid_dir: Path) -> None:  # type: ignore[no-untyped-def]
    server = start_runtime(entry_script=SCRIPTS / "runtime_pid_score.py", wait=False,
                           env={"PID_DIR": str(pid_dir), "INIT_SLEEP_S": "3"})
    server.wait_ready(path="/v2/health/live")
    not_ready = httpx.get(server.url + "/v2/health/ready")
    assert not_ready.status_code == 503 and "still loading" in not_ready.json()["error"]
    assert httpx.get(server.url + "/").status_code == 503  # Azure's probe means "ready to score"
    scored_early = httpx.post(server.url + "/score", content=b"{}")
    assert scored_early.status_code == 503 and "init() is running" in scored_early.json()["message"]
    assert scored_early.headers["retry-after"] == "1"
    server.wait_ready()
    assert httpx.post(server.url + "/score", content=b"{}").status_code == 200


def test_a_taken_port_is_a_clear_error(start_runtime) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = start_runtime(entry_script=SCRIPTS / "echo_score.py", wait=False, env={"SHIPYARD_PORT": str(port)})
        assert server.wait_exit() == 8
    assert f"cannot listen on 127.0.0.1:{port}" in server.log()


def test_shipyard_serve_command(start_runtime, model_folder: Path) -> None:  # type: ignore[no-untyped-def]
    server = start_runtime(argv=[
        sys.executable, "-m", "shipyard", "serve", "--model-dir", str(model_folder),
        "--entry-script", str(SCRIPTS / "echo_score.py"), "--host", "127.0.0.1", "--port", "{port}",
        "--model-name", "cli-model", "--model-version", "5", "--api-key", "k1", "--api-key", "k2",
        "--request-timeout", "9", "--max-body-bytes", "64",
    ])
    auth = {"Authorization": "Bearer k2"}
    assert httpx.get(server.url + "/v2/models/cli-model/versions/5", headers=auth).json()["name"] == "cli-model"
    assert httpx.post(server.url + "/score", content=b"x" * 65, headers=auth).status_code == 413
    assert httpx.post(server.url + "/score", content=b"hi", headers=auth).json()["data"] == "hi"
    assert httpx.post(server.url + "/score", content=b"hi").status_code == 401
    assert server.stop() == 0


def test_shipyard_serve_reports_a_bad_script_in_one_line(start_runtime, model_folder: Path) -> None:  # type: ignore[no-untyped-def]
    server = start_runtime(wait=False, argv=[
        sys.executable, "-m", "shipyard", "serve", "--model-dir", str(model_folder),
        "--entry-script", str(SCRIPTS / "init_raises_score.py"), "--port", str(free_port()),
    ])
    assert server.wait_exit() == 3
    assert server.log().strip().splitlines()[-1].startswith("error: ")


def test_stopping_a_server_that_is_still_loading(start_runtime, pid_dir: Path) -> None:  # type: ignore[no-untyped-def]
    server: RunningServer = start_runtime(entry_script=SCRIPTS / "runtime_pid_score.py", wait=False,
                                          env={"PID_DIR": str(pid_dir), "INIT_SLEEP_S": "30"})
    server.wait_ready(path="/v2/health/live")
    started = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - started < 10  # init() cannot be interrupted, but it does not hold the exit
