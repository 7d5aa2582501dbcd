"""Azure ML compatible behaviour over real HTTP: /score, /swagger.json, /, request-id headers."""

from __future__ import annotations

import json
import re
import socket
import time
import uuid

import httpx
import pytest

from tests.fixtures.servers import RunningServer


@pytest.fixture(scope="module")
def echo(module_runtime) -> RunningServer:  # type: ignore[no-untyped-def]
    return module_runtime("echo_score.py")


def test_post_score_passes_the_body_and_answers_json(echo: RunningServer) -> None:
    response = httpx.post(echo.url + "/score", content=b'{"data": [1, 2]}', headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["data"] == '{"data": [1, 2]}'
    assert float(response.headers["x-ms-run-fn-exec-ms"]) >= 0
    assert response.headers["x-ms-run-function-failed"] == "False"


def test_get_score_turns_query_parameters_into_the_input(echo: RunningServer) -> None:
    response = httpx.get(echo.url + "/score", params={"a": "1", "b": "x"})
    assert response.status_code == 200
    assert response.json()["data"] == '{"a": 1, "b": "x"}'


def test_options_score_is_200_and_other_methods_405(echo: RunningServer) -> None:
    options = httpx.request("OPTIONS", echo.url + "/score")
    assert options.status_code == 200 and "POST" in options.headers["allow"]
    put = httpx.put(echo.url + "/score", content=b"x")
    assert put.status_code == 405 and "use POST or GET" in put.json()["error"]
    assert put.json()["message"] == "The method is not allowed for the requested URL."  # azmlinfsrv's words


def test_liveness_says_healthy(echo: RunningServer) -> None:
    response = httpx.get(echo.url + "/")
    assert (response.status_code, response.text) == (200, "Healthy")
    assert httpx.head(echo.url + "/").status_code == 200  # load balancers probe with HEAD too


def test_a_client_waiting_for_100_continue_gets_it_before_sending_the_body(echo: RunningServer) -> None:
    body = b'{"data": 1}'
    with socket.create_connection(("127.0.0.1", echo.port), timeout=5) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        assert sock.recv(4096).startswith(b"HTTP/1.1 100 Continue\r\n")  # before any body byte was sent
        sock.sendall(body)
        answer = b""
        while not answer.endswith(b'"}'):
            chunk = sock.recv(4096)
            assert chunk, f"connection closed after {answer!r}"
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and json.loads(payload)["data"] == body.decode()


def test_a_header_value_with_cr_lf_never_reaches_the_client(module_runtime) -> None:  # type: ignore[no-untyped-def]
    server = module_runtime("header_injection_score.py")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\ninject")
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    assert b"x-injected" not in received  # the connection is closed rather than split into two headers
    assert "Invalid HTTP header value" in server.log()
    assert httpx.post(server.url + "/score", content=b"fine").json() == {"ok": True}  # still serving


def test_answers_on_one_connection_arrive_whole_and_in_order(echo: RunningServer) -> None:
    with httpx.Client(base_url=echo.url) as client:  # keep-alive: one connection for all of them
        for n in range(20):
            method = "HEAD" if n % 5 == 4 else "POST"
            response = client.request(method, "/" if method == "HEAD" else "/score", content=b"n%d" % n)
            assert response.status_code == 200
            if method == "POST":
                assert response.json()["data"] == f"n{n}"


def test_every_response_carries_request_ids(echo: RunningServer) -> None:
    for method, path in (("GET", "/"), ("POST", "/score"), ("GET", "/no/such/route"), ("GET", "/metrics")):
        response = httpx.request(method, echo.url + path, content=b"{}" if method == "POST" else None)
        uuid.UUID(response.headers["x-request-id"])  # generated
        assert response.headers["x-ms-request-id"] == response.headers["x-request-id"]
    unknown = httpx.get(echo.url + "/no/such/route")
    assert unknown.status_code == 404 and "no route GET /no/such/route" in unknown.json()["error"]


def test_request_id_headers_follow_azmlinfsrv(echo: RunningServer) -> None:
    given = httpx.post(echo.url + "/score", content=b"x", headers={"x-request-id": "mine", "TraceId": "t-1"})
    assert given.headers["x-request-id"] == "mine"
    assert given.headers["x-ms-request-id"] == "mine"
    assert given.headers["traceid"] == "t-1"
    client = httpx.post(echo.url + "/score", content=b"x", headers={"x-ms-client-request-id": "client-7"})
    assert client.headers["x-ms-client-request-id"] == "client-7"
    assert client.headers["x-ms-request-id"] == "client-7"
    legacy = httpx.post(echo.url + "/score", content=b"x", headers={"x-ms-request-id": "old-style"})
    assert legacy.headers["x-ms-request-id"] == "old-style"
    assert legacy.headers["x-ms-client-request-id"] == "old-style"


def test_too_long_request_id_is_431(echo: RunningServer) -> None:
    response = httpx.post(echo.url + "/score", content=b"x", headers={"x-request-id": "a" * 101})
    assert response.status_code == 431
    assert "x-request-id must not exceed 100 characters" in response.json()["message"]
    uuid.UUID(response.headers["x-request-id"])  # still identifiable


def test_swagger_without_a_schema_is_the_generic_document(echo: RunningServer) -> None:
    response = httpx.get(echo.url + "/swagger.json")
    assert response.status_code == 200 and "/score" in response.json()["paths"]


def test_each_request_gets_one_access_log_line_in_the_console_layout(echo: RunningServer) -> None:
    httpx.post(echo.url + "/score", content=b"hi", headers={"x-request-id": "req-console"})
    time.sleep(0.5)  # access-log lines are written a few times a second
    lines = [line for line in echo.log().splitlines() if line.endswith(" req-console")]
    assert len(lines) == 1, echo.log()
    assert re.fullmatch(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO    \[\d+\] shipyard\.access: '
                        r'127\.0\.0\.1:\d+ "POST /score" 200 \d+\.\d{3}ms req-console', lines[0]), lines[0]


def test_forwarded_for_is_trusted_only_from_the_proxies_named(echo: RunningServer, module_runtime) -> None:  # type: ignore[no-untyped-def]
    behind_proxy = module_runtime("echo_score.py", env={"SHIPYARD_FORWARDED_ALLOW_IPS": "127.0.0.1"})
    for server, request_id in ((echo, "req-direct"), (behind_proxy, "req-proxied")):
        httpx.post(server.url + "/score", content=b"hi",
                   headers={"x-request-id": request_id, "x-forwarded-for": "203.0.113.7"})
    time.sleep(0.5)  # access-log lines are written a few times a second
    direct = next(line for line in echo.log().splitlines() if line.endswith(" req-direct"))
    proxied = next(line for line in behind_proxy.log().splitlines() if line.endswith(" req-proxied"))
    assert "shipyard.access: 127.0.0.1:" in direct  # by default nobody's X-Forwarded-For is believed
    assert "shipyard.access: 203.0.113.7:" in proxied


def test_run_raising_is_a_500_with_the_request_id_and_the_server_keeps_serving(module_runtime) -> None:  # type: ignore[no-untyped-def]
    server = module_runtime("run_raises_score.py", env={"SHIPYARD_LOG_FORMAT": "json"})
    response = httpx.post(server.url + "/score", content=b"boom", headers={"x-request-id": "req-500"})
    assert response.status_code == 500
    assert response.headers["x-ms-run-function-failed"] == "True"
    assert response.headers["x-request-id"] == "req-500"
    body = response.json()
    assert body["request_id"] == "req-500" and "unexpected error occurred in scoring script" in body["message"]
    assert "ScriptFailure" not in response.text  # internals stay in the log...
    time.sleep(0.5)  # access-log lines are written a few times a second
    records = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    failure = next(record for record in records if record["level"] == "ERROR")
    assert failure["request_id"] == "req-500"  # ...with the traceback and the request id
    assert "ScriptFailure: cannot score 'boom'" in failure["exc_info"]
    access = [r for r in records if r["logger"] == "shipyard.access" and r["request_id"] == "req-500"]
    assert [(r["method"], r["path"], r["status"]) for r in access] == [("POST", "/score", 500)]
    assert httpx.get(server.url + "/").status_code == 200
    assert httpx.post(server.url + "/score", content=b"again").status_code == 500  # still answering


def test_schema_script_swagger_and_input_errors(module_runtime) -> None:  # type: ignore[no-untyped-def]
    server = module_runtime("schema_score.py")
    for version, key in (("2", "swagger"), ("3", "openapi"), ("3.1", "openapi")):
        document = httpx.get(server.url + "/swagger.json", params={"version": version}).json()
        assert key in document and "/score" in document["paths"]
    unsupported = httpx.get(server.url + "/swagger.json", params={"version": "4"})
    assert unsupported.status_code == 404 and unsupported.json()["message"] == (
        "Swagger version [4] is not valid. Supported versions: [2, 3, 3.1].")  # azmlinfsrv's words
    bad_json = httpx.post(server.url + "/score", content=b"{oops", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["error"]
    assert bad_json.json()["message"].startswith("POST body could not be decoded as JSON: ")  # azmlinfsrv's
    assert bad_json.headers["x-ms-run-function-failed"] == "False"
    scored = httpx.post(server.url + "/score", json={"data": [[1, 2, 3, 4]], "scale": 1.0})
    assert scored.status_code == 200 and scored.json() == [10.0]


def test_streamed_run_output_arrives_in_chunks(module_runtime) -> None:  # type: ignore[no-untyped-def]
    server = module_runtime("streaming_score.py")
    with httpx.stream("GET", server.url + "/score", params={"n": "4"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert "content-length" not in response.headers
        chunks = list(response.iter_text())
    assert "".join(chunks) == "".join(f"chunk {i}\n" for i in range(4))
