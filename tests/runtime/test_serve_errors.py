"""What ``shipyard serve`` tells a user whose model does not load, or whose settings are wrong.

The summary comes first and names what the user typed (``--model-dir``, or the variable they set);
uvicorn's start/stop lines are not shown for a process that never served; a 504 names the
setting that set the timeout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.fixtures.servers import SCRIPTS, free_port

_SCRUBBED = ("AZUREML_MODEL_DIR", "AZUREML_ENTRY_SCRIPT", "SHIPYARD_MODEL_DIR", "SHIPYARD_ENTRY_SCRIPT",
             "SHIPYARD_REQUEST_TIMEOUT_S", "SCORING_TIMEOUT_MS", "SHIPYARD_SCORING_MODE")


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``shipyard serve ARGS`` on a free loopback port, to its end (a load failure ends it)."""
    environment = {key: value for key, value in os.environ.items() if key not in _SCRUBBED}
    environment.update(env or {})
    command = [sys.executable, "-m", "shipyard", "serve", "--host", "127.0.0.1", "--port", str(free_port()), *args]
    # stdout and stderr as one stream, in order: the log and the final error line together
    return subprocess.run(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=60)


def _records(output: str) -> list[str]:
    """Log records and the final error line, without traceback lines."""
    return [line for line in output.splitlines() if line and not line.startswith((" ", "Traceback"))]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_load_failure_says_what_failed_first_and_names_the_flag_given(tmp_path: Path, workers: str) -> None:
    missing = tmp_path / "no-such-model"
    result = _serve("--model-dir", str(missing), "--workers", workers)
    assert result.returncode == 3, result.stdout
    records = _records(result.stdout)
    first_error = next(line for line in records if " ERROR " in line)
    assert f"Model 'no-such-model' failed to load: model folder {missing} does not exist; set --model-dir to " \
           "the folder that holds your model files" in first_error
    # ...and the details right after it: the traceback belongs to that record
    after = result.stdout.split(first_error, 1)[1].splitlines()[1]
    assert after == "Traceback (most recent call last):"
    assert not [line for line in records if "uvicorn" in line], result.stdout  # never served: no start/stop chatter
    assert records[-1].startswith("error: ") and "set --model-dir" in records[-1]
    assert "SHIPYARD_MODEL_DIR" not in result.stdout


def test_a_load_failure_names_the_variable_when_the_variable_was_used(tmp_path: Path) -> None:
    result = _serve(env={"SHIPYARD_MODEL_DIR": str(tmp_path / "gone")})
    assert result.returncode == 3
    assert "set SHIPYARD_MODEL_DIR (or AZUREML_MODEL_DIR) to the folder" in _records(result.stdout)[-1]
    missing_script = _serve("--model-dir", str(tmp_path), "--entry-script", str(tmp_path / "score.py"))
    assert f"entry script {tmp_path / 'score.py'} does not exist; pass the path of your score.py (--entry-script)" \
        in _records(missing_script.stdout)[-1]


def test_a_bad_flag_value_is_named_as_the_flag(tmp_path: Path) -> None:
    result = _serve("--model-dir", str(tmp_path), "--scoring-mode", "fast")
    assert result.returncode == 8
    assert result.stdout.strip().splitlines()[-1] == (
        "error: invalid runtime settings: --scoring-mode: Input should be 'auto', 'thread' or 'inline' (got 'fast')")
    from_env = _serve("--model-dir", str(tmp_path), env={"SHIPYARD_SCORING_MODE": "fast"})
    assert "invalid runtime settings: SHIPYARD_SCORING_MODE: Input should be" in from_env.stdout


def test_a_served_process_still_shows_uvicorns_start_lines(start_runtime) -> None:  # noqa: ANN001
    server = start_runtime(entry_script=SCRIPTS / "echo_score.py")
    log = server.log()
    assert "uvicorn.error: Application startup complete." in log
    assert log.index("ready in") < log.index("Application startup complete.")  # released once ready


@pytest.mark.parametrize(("env", "named"), [
    ({"SCORING_TIMEOUT_MS": "300"}, "(SCORING_TIMEOUT_MS=300)"),
    ({"SCORING_TIMEOUT_MS": "9000", "SHIPYARD_REQUEST_TIMEOUT_S": "0.3"}, "(SHIPYARD_REQUEST_TIMEOUT_S)"),
], ids=["azure-variable", "shipyard-variable-wins"])
def test_a_timeout_names_the_setting_that_set_it(start_runtime, env: dict[str, str], named: str) -> None:  # noqa: ANN001
    server = start_runtime(entry_script=SCRIPTS / "runtime_slow_score.py", env=env)
    response = httpx.post(server.url + "/score", json={"sleep": 1.5}, timeout=10)
    assert response.status_code == 504
    assert f"within the 0.3 s request timeout {named}" in response.json()["message"]


def test_every_serve_flag_is_a_runtime_setting() -> None:
    """``serve`` hands its options to load_settings by name: a flag without a setting would be lost."""
    import typer.main

    from shipyard.cli import app
    from shipyard.cli.serve import setting_flags
    from shipyard.runtime.settings import RuntimeSettings

    command = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    flags = setting_flags(command)
    assert "--model-dir" in flags.values() and flags["api_keys"] == "--api-key"
    assert [field for field in flags if field not in RuntimeSettings.model_fields] == []
