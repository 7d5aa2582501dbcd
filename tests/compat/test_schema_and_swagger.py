"""inference-schema decorated scripts (numpy, pandas, standard types) and /swagger.json, generated or the user's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.azmlinfsrv import ServerPair, exchange

SCRIPTS = Path(__file__).resolve().parent / "scripts"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def numpy_script(differential_servers) -> ServerPair:  # type: ignore[no-untyped-def]
    return differential_servers(SCRIPTS / "schema_numpy_score.py")


@pytest.fixture(scope="module")
def standard_script(differential_servers) -> ServerPair:  # type: ignore[no-untyped-def]
    return differential_servers(SCRIPTS / "schema_standard_score.py",
                                env={"SERVICE_NAME": "greeter", "SERVICE_VERSION": "7",
                                     "SERVICE_PATH_PREFIX": "api/v1"})


@pytest.mark.parametrize(("method", "path", "request_kwargs"), [
    ("POST", "/score", {"content": b'{"data": [[1, 2, 3], [4, 5, 6.5]]}', "headers": JSON}),
    ("POST", "/score", {"content": b'{"data": [[1, 2, 3]]}', "headers": {"Content-Type": "text/plain"}}),
    ("POST", "/score", {"content": b"", "headers": JSON}),
    ("POST", "/score", {"content": b"[1, 2]", "headers": JSON}),
    ("POST", "/score", {"content": b'{"other": 1}', "headers": JSON}),
    ("POST", "/score", {"content": b"{oops", "headers": JSON}),
    ("GET", "/score?data=[[1,2,3]]", {}),
    ("POST", "/score", {"content": b'{"data": [[1, 2]]}', "headers": JSON}),
], ids=["numpy-input", "wrong-content-type-415", "empty-body-400", "not-an-object-400", "missing-parameter-400",
        "invalid-json-400", "get-with-query-args", "wrong-shape-refused"])
def test_numpy_schema(numpy_script: ServerPair, method: str, path: str, request_kwargs: dict) -> None:
    exchange(numpy_script, method, path, **request_kwargs).assert_same()


@pytest.mark.parametrize("body", [
    b'{"customer": {"name": "Grace", "visits": 4, "tags": []}}',
    b'{"customer": {"name": "Linus", "visits": 2, "tags": ["x"]}, "scale": 3}',
], ids=["default-parameter", "both-parameters"])
def test_standard_types_schema(standard_script: ServerPair, body: bytes) -> None:
    exchange(standard_script, "POST", "/score", content=body, headers={**JSON, "X-Caller": "tests"}).assert_same()


def test_pandas_schema(differential_servers) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("pandas", reason="Shipyard's side needs pandas to import the pandas script (test extra)")
    pair = differential_servers(SCRIPTS / "schema_pandas_score.py")
    body = b'{"data": [{"age": 20, "income": 1000.5, "city": "Oslo"}, {"age": 40, "income": 3000, "city": "Rome"}]}'
    exchange(pair, "POST", "/score", content=body, headers=JSON).assert_same()
    exchange(pair, "GET", "/swagger.json?version=3").assert_same()


@pytest.mark.parametrize("query", ["", "?version=2", "?version=2.0", "?version=3", "?version=3.0", "?version=3.1",
                                   "?version=4"])
def test_generated_swagger(numpy_script: ServerPair, query: str) -> None:
    exchange(numpy_script, "GET", "/swagger.json" + query).assert_same()


@pytest.mark.parametrize("query", ["", "?version=3.1"])
def test_swagger_with_service_name_version_and_prefix(standard_script: ServerPair, query: str) -> None:
    exchange(standard_script, "GET", "/swagger.json" + query).assert_same()


@pytest.mark.parametrize("query", ["", "?version=2", "?version=3", "?version=3.1"])
def test_user_supplied_swagger_files(differential_servers, query: str) -> None:  # type: ignore[no-untyped-def]
    pair = differential_servers(SCRIPTS / "user_swagger" / "score.py")
    exchange(pair, "GET", "/swagger.json" + query).assert_same()
