"""What ``AMLResponse`` (and plain return values of ``@rawhttp`` scripts) put on the wire, streaming included."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.azmlinfsrv import ServerPair, exchange

SCRIPTS = Path(__file__).resolve().parent / "scripts"

RESPONSE_CASES = [
    "text", "bytes", "json-str", "json-str-string", "none", "dict-without-json-str", "status-and-header",
    "comma-header", "content-type-header", "run-function-failed", "server-error", "late-changes", "cookies",
    "stream-text", "stream-ndjson", "stream-bytes", "plain-dict", "plain-string",
]


@pytest.fixture(scope="module")
def responses(differential_servers) -> ServerPair:  # type: ignore[no-untyped-def]
    return differential_servers(SCRIPTS / "responses_score.py")


@pytest.mark.parametrize("case", RESPONSE_CASES)
def test_aml_response_on_the_wire(responses: ServerPair, case: str) -> None:
    exchange(responses, "GET", f"/score?case={case}").assert_same()


def test_streamed_chunks_arrive_in_order(responses: ServerPair) -> None:
    answer = exchange(responses, "POST", "/score?case=stream-text").assert_same()
    assert answer.shipyard.text == "".join(f"line {index}\n" for index in range(5))
