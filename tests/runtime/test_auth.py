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
