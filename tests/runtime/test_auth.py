"""API keys: Bearer auth on scoring and metadata routes, open health probes and metrics."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.servers import RunningServer


@pytest.fixture(scope="module")
def locked(module_runtime) -> RunningServer:  # type: ignore[no-untyped-def]
    return module_runtime("echo_score.py", env={"SHIPYARD_API_KEYS": "first-key, second-key"})


@pytest.mark.parametrize("path", ["/score", "/v2/models/model/infer"])
def test_scoring_needs_a_key(locked: RunningServer, path: str) -> None:
    missing = httpx.post(locked.url + path, content=b"{}")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="shipyard"'
    assert "Authorization: Bearer <key>" in missing.json()["message"]
    wrong = httpx.post(locked.url + path, content=b"{}", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert wrong.headers["x-request-id"]


def test_any_configured_key_works(locked: RunningServer) -> None:
    for key in ("first-key", "second-key"):
        response = httpx.post(locked.url + "/score", content=b"hi", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200 and response.json()["data"] == "hi"
    assert httpx.get(locked.url + "/v2/models/model", headers={"Authorization": "bearer first-key"}).status_code == 200
    assert httpx.get(locked.url + "/v2/models/model").status_code == 401
    assert httpx.get(locked.url + "/swagger.json").status_code == 401


@pytest.mark.parametrize("path", ["/", "/v2/health/live", "/v2/health/ready", "/metrics"])
def test_probes_and_metrics_stay_open(locked: RunningServer, path: str) -> None:
    assert httpx.get(locked.url + path).status_code == 200


def test_keys_from_a_file_work_and_never_reach_the_process_list(start_runtime, model_folder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sys

    from tests.fixtures.servers import SCRIPTS

    keys_file = tmp_path / "keys"
    keys_file.write_text("# rotated 2026-12-01\nfile-key-1\n\nfile-key-2\n")
    keys_file.chmod(0o400)
    server = start_runtime(argv=[
        sys.executable, "-m", "shipyard", "serve", "--model-dir", str(model_folder),
        "--entry-script", str(SCRIPTS / "echo_score.py"), "--host", "127.0.0.1", "--port", "{port}",
        "--api-key-file", str(keys_file),
    ], env={"SHIPYARD_API_KEYS": "env-key"})
    for key in ("file-key-1", "file-key-2", "env-key"):  # the file's keys and the environment's
        assert httpx.post(server.url + "/score", content=b"hi", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert httpx.post(server.url + "/score", content=b"hi").status_code == 401
    cmdline = open(f"/proc/{server.process.pid}/cmdline", "rb").read()
    assert b"file-key" not in cmdline and b"env-key" not in cmdline  # what `ps` shows every local user


def test_an_unreadable_or_empty_keys_file_stops_the_start(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from shipyard.errors import ServerStartError
    from shipyard.runtime import load_settings

    with pytest.raises(ServerStartError, match=r"SHIPYARD_API_KEYS_FILE: .*cannot read the API keys file .*missing"):
        monkeypatch.setenv("SHIPYARD_API_KEYS_FILE", str(tmp_path / "missing"))
        load_settings()
    empty = tmp_path / "empty"
    empty.write_text("# no keys yet\n\n")
    with pytest.raises(ServerStartError, match=r"--api-key-file: .*holds no key"):  # auth silently off: refused
        load_settings(flag_names={"api_keys_file": "--api-key-file"}, api_keys_file=empty)
