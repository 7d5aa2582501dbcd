"""``@rawhttp`` scripts: what an ``AMLRequest`` shows them, field by field, is what azmlinfsrv showed.

The script answers with everything it read (header pairs in order, args, form, cookies, body ...),
so comparing the answers compares the scripts' view of the request.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.azmlinfsrv import ServerPair, exchange

SCRIPTS = Path(__file__).resolve().parent / "scripts"


@pytest.fixture(scope="module")
def raw(differential_servers) -> ServerPair:  # type: ignore[no-untyped-def]
    # both trust X-Forwarded-* from the test client, as gunicorn does by default and Shipyard when told
    return differential_servers(SCRIPTS / "raw_request_score.py", env={"FORWARDED_ALLOW_IPS": "127.0.0.1"})


JSON = {"Content-Type": "application/json"}

CASES = {
    "json-with-headers-and-cookies": ("POST", "/score", {
        "content": b'{"a": 1, "b": [1, 2]}',
        "headers": {**JSON, "X-Thing": "1", "Cookie": "session=abc; theme=dark", "Authorization": "Bearer k"}}),
    "repeated-args-and-spaces": ("POST", "/score?a=1&a=2&b=x+y&c=%C3%A9", {"content": b"body"}),
    "get-without-body": ("GET", "/score?a=1", {}),
    "empty-query": ("GET", "/score?", {}),
    "form-urlencoded-with-query": ("POST", "/score?q=5", {
        "content": b"name=kitten&tag=a&tag=b&empty=",
        "headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
    "repeated-header": ("POST", "/score", {"content": b"x", "headers": [("X-Multi", "1"), ("X-Multi", "2")]}),
    "content-type-parameters": ("POST", "/score", {
        "content": '{"t": "é"}'.encode(), "headers": {"Content-Type": "application/json; charset=utf-8; v=2"}}),
    "json-suffix-type": ("POST", "/score", {
        "content": b'{"x": 1}', "headers": {"Content-Type": "application/vnd.api+json"}}),
    "invalid-json-body": ("POST", "/score", {"content": b"{not json", "headers": JSON}),
    "binary-body": ("POST", "/score", {
        "content": bytes(range(256)), "headers": {"Content-Type": "application/octet-stream"}}),
    "accept-and-conditional-headers": ("POST", "/score", {
        "content": b"",
        "headers": {"Accept": "application/json", "If-None-Match": '"abc"', "Content-Encoding": "identity"}}),
    "behind-a-tls-proxy": ("POST", "/score?a=1", {
        "content": b"x", "headers": {"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.0.0.7"}}),
    "client-request-ids": ("POST", "/score", {
        "content": b"{}", "headers": {"x-request-id": "rid-1", "x-ms-client-request-id": "cid-1", "TraceId": "t-1"}}),
}


@pytest.mark.parametrize(("method", "path", "request_kwargs"), list(CASES.values()), ids=list(CASES))
def test_script_sees_the_request_as_under_azmlinfsrv(raw: ServerPair, method: str, path: str,
                                                     request_kwargs: dict) -> None:
    exchange(raw, method, path, **request_kwargs).assert_same()
