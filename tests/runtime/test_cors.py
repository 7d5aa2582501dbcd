"""CORS for browser clients: off by default, on with AML_CORS_ORIGINS (Azure's name) or SHIPYARD_CORS_ORIGINS."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.servers import RunningServer

ORIGIN = "https://dashboard.example.com"
KEY = "cors-test-key"


@pytest.fixture(scope="module")
def cors_server(module_runtime) -> RunningServer:  # type: ignore[no-untyped-def]
    return module_runtime("echo_score.py", env={"AML_CORS_ORIGINS": f"{ORIGIN}, https://other.example.com",
                                                "SHIPYARD_API_KEYS": KEY})


def test_a_preflight_is_answered_without_the_api_key(cors_server: RunningServer) -> None:
    response = httpx.options(cors_server.url + "/score", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


def test_answers_to_an_allowed_origin_carry_the_cors_headers(cors_server: RunningServer) -> None:
    scored = httpx.post(cors_server.url + "/score", content=b"hello",
                        headers={"Origin": ORIGIN, "Authorization": f"Bearer {KEY}"})
    assert scored.status_code == 200 and scored.json()["data"] == "hello"
    assert scored.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in scored.headers["access-control-expose-headers"]
    refused = httpx.post(cors_server.url + "/score", content=b"hello", headers={"Origin": ORIGIN})
    assert refused.status_code == 401  # CORS does not replace the key...
    assert refused.headers["access-control-allow-origin"] == ORIGIN  # ...and the page can read why


def test_other_origins_get_no_cors_headers(cors_server: RunningServer) -> None:
    preflight = httpx.options(cors_server.url + "/score", headers={
        "Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 400
    scored = httpx.post(cors_server.url + "/score", content=b"hi",
                        headers={"Origin": "https://evil.example.com", "Authorization": f"Bearer {KEY}"})
    assert scored.status_code == 200 and "access-control-allow-origin" not in scored.headers


def test_cors_is_off_by_default(module_runtime) -> None:  # type: ignore[no-untyped-def]
    server = module_runtime("echo_score.py")
    scored = httpx.post(server.url + "/score", content=b"hi", headers={"Origin": ORIGIN})
    assert scored.status_code == 200 and "access-control-allow-origin" not in scored.headers
    options = httpx.options(server.url + "/score", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert options.status_code == 200 and "access-control-allow-origin" not in options.headers
