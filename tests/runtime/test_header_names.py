"""uvicorn's response-header name check, remembered per name: same verdicts, fewer searches."""

from __future__ import annotations

import re

import pytest

from shipyard.runtime import header_names
from shipyard.runtime.header_names import EXPECTED_PATTERN, RememberingPattern

UVICORN_PATTERN = re.compile(EXPECTED_PATTERN)


@pytest.mark.parametrize("position", ["start", "middle", "end"])
def test_every_byte_gets_the_verdict_uvicorns_pattern_gives(position: str) -> None:
    remembering = RememberingPattern(UVICORN_PATTERN)
    for byte in range(256):
        name = {"start": bytes([byte]) + b"x-name", "middle": b"x-" + bytes([byte]) + b"-name",
                "end": b"x-name" + bytes([byte])}[position]  # fmt: skip
        expected = UVICORN_PATTERN.search(name) is not None
        for attempt in ("first", "remembered"):
            assert (remembering.search(name) is not None) == expected, (name, attempt)


def test_only_valid_names_are_remembered_and_at_most_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(header_names, "MAX_REMEMBERED", 3)
    remembering = RememberingPattern(UVICORN_PATTERN)
    assert remembering.search(b"bad name") is not None
    assert remembering.search(b"bad name") is not None  # searched again, never cached as valid
    for name in (b"a", b"b", b"c", b"d", b"e"):
        assert remembering.search(name) is None
    assert sorted(remembering.search.__self__) == [b"a", b"b", b"c"]  # type: ignore[attr-defined]
    assert remembering.search(b"e") is None  # past the limit: still checked, still right


def test_a_str_name_fails_as_it_does_in_uvicorn() -> None:
    with pytest.raises(TypeError):
        RememberingPattern(UVICORN_PATTERN).search("x-name")  # type: ignore[arg-type]


def test_install_replaces_uvicorns_pattern_once_and_keeps_its_answers() -> None:
    httptools_impl = pytest.importorskip("uvicorn.protocols.http.httptools_impl")
    assert header_names.install() is True
    installed = httptools_impl.HEADER_RE
    assert isinstance(installed, RememberingPattern) and installed.pattern == EXPECTED_PATTERN
    assert header_names.install() is True and httptools_impl.HEADER_RE is installed  # idempotent
    assert installed.search(b"content-type") is None
    assert installed.search(b"content-type\r\nx-injected") is not None


def test_a_different_uvicorn_pattern_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    httptools_impl = pytest.importorskip("uvicorn.protocols.http.httptools_impl")
    changed = re.compile(b"[\x00-\x1f]")
    monkeypatch.setattr(httptools_impl, "HEADER_RE", changed)
    assert header_names.install() is False
    assert httptools_impl.HEADER_RE is changed
