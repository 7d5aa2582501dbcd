"""Errors (run() raising, init() failing, client mistakes), health and routes, as azmlinfsrv answers them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.azmlinfsrv import ServerPair, exchange, wait_for_exit

SCRIPTS = Path(__file__).resolve().parent / "scripts"


@pytest.fixture(scope="module")
def raises(differential_servers) -> ServerPair:  # type: ignore[no-untyped-def]
    return differential_servers(SCRIPTS / "run_raises_score.py")


def test_run_raising_is_a_500_and_the_server_keeps_serving(raises: ServerPair) -> None:
    exchange(raises, "POST", "/score", content=b'{"explode": "boom"}').assert_same()
    exchange(raises, "POST", "/score", content=b'{"fine": 1}').assert_same()


def test_run_failing_on_invalid_json(raises: ServerPair) -> None:
    exchange(raises, "POST", "/score", content=b"{not json").assert_same()


def test_werkzeug_error_inside_run_is_a_500(differential_servers) -> None:  # type: ignore[no-untyped-def]
    pair = differential_servers(SCRIPTS / "request_json_score.py")
    exchange(pair, "POST", "/score", content=b'{"b": 1, "a": 2}', headers={"Content-Type": "application/json"}
             ).assert_same()
    exchange(pair, "POST", "/score", content=b"text", headers={"Content-Type": "text/plain"}).assert_same()
    exchange(pair, "POST", "/score", content=b"{bad", headers={"Content-Type": "application/json"}).assert_same()


@pytest.mark.parametrize(("method", "path", "request_kwargs"), [
    ("GET", "/", {}),
    ("PUT", "/score", {"content": b"{}"}),
    ("DELETE", "/score", {}),
    ("OPTIONS", "/score", {}),
    ("POST", "/score", {"content": b"{}", "headers": {"x-request-id": "r" * 101}}),
    ("POST", "/score", {"content": b"{}", "headers": {"x-ms-client-request-id": "c" * 101}}),
    ("POST", "/score", {"content": b"{}", "headers": {"x-ms-request-id": "legacy-1"}}),
    ("GET", "/no/such/route", {}),
    ("HEAD", "/", {}),
    ("GET", "/swagger.json?version=", {}),
    ("POST", "/swagger.json", {"content": b"{}"}),
], ids=["health", "put-score", "delete-score", "options-score", "long-request-id", "long-client-request-id",
        "legacy-request-id", "unknown-route", "head-health", "swagger-empty-version", "post-swagger"])
def test_routes(raises: ServerPair, method: str, path: str, request_kwargs: dict) -> None:
    exchange(raises, method, path, **request_kwargs).assert_same()


def test_init_failing_stops_both_servers(differential_servers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pair = differential_servers(SCRIPTS / "init_fails_score.py", model_dir=tmp_path, wait=False)
    reference, shipyard = wait_for_exit(pair)
    assert reference is not None and reference != 0, pair.reference.log()
    assert shipyard is not None and shipyard != 0, pair.shipyard.log()
    assert "missing_model.pkl" in pair.shipyard.log()


def test_scoring_timeout_ms(differential_servers) -> None:  # type: ignore[no-untyped-def]
    pair = differential_servers(SCRIPTS / "slow_score.py", env={"SCORING_TIMEOUT_MS": "1000"})
    exchange(pair, "POST", "/score", content=b'{"sleep": 0}').assert_same()
    exchange(pair, "POST", "/score", content=b'{"sleep": 3}').assert_same()
