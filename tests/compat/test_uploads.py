"""Multipart uploads in, JSON or an image out: the raw-HTTP samples' two shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.azmlinfsrv import ServerPair, exchange

SCRIPTS = Path(__file__).resolve().parent / "scripts"
PICTURE = bytes(range(256)) * 8  # stands in for a JPEG: any bytes, including NUL and 0xFF


@pytest.fixture(scope="module")
def uploads(differential_servers) -> ServerPair:  # type: ignore[no-untyped-def]
    return differential_servers(SCRIPTS / "uploads_score.py")


@pytest.fixture(scope="module")
def images(differential_servers) -> ServerPair:  # type: ignore[no-untyped-def]
    return differential_servers(SCRIPTS / "image_score.py")


UPLOAD_CASES = {
    "one-file": {"files": {"image": ("cat.jpg", PICTURE, "image/jpeg")}},
    "files-and-fields": {
        "files": [("images", ("a.png", b"\x89PNG-a", "image/png")), ("images", ("b.png", b"\x89PNG-bb", "image/png")),
                  ("labels", ("labels.csv", b"a,b\n1,2\n", "text/csv"))],
        "data": {"threshold": "0.5", "tags": ["x", "y"]}},
    "file-without-type": {"files": {"blob": ("data.bin", b"\x00\x01\x02", None)}},
    "unicode-filename-and-field": {"files": {"doc": ("r\u00e9sum\u00e9.txt", "caf\u00e9".encode(), "text/plain")},
                                   "data": {"note": "na\u00efve"}},
    "form-fields-only": {"data": {"a": "1", "b": ["2", "3"]}},
    "not-multipart": {"content": b"just bytes", "headers": {"Content-Type": "application/octet-stream"}},
}


@pytest.mark.parametrize("request_kwargs", list(UPLOAD_CASES.values()), ids=list(UPLOAD_CASES))
def test_multipart_upload(uploads: ServerPair, request_kwargs: dict) -> None:
    exchange(uploads, "POST", "/score", **request_kwargs).assert_same()


def test_get_on_an_upload_script_is_its_own_405(uploads: ServerPair) -> None:
    exchange(uploads, "GET", "/score").assert_same()


@pytest.mark.parametrize(("path", "request_kwargs"), [
    ("/score", {"files": {"image": ("cat.jpg", PICTURE, "image/jpeg")}}),
    ("/score", {"content": PICTURE, "headers": {"Content-Type": "image/jpeg"}}),
    ("/score?as=png", {"content": PICTURE, "headers": {"Content-Type": "application/octet-stream"}}),
    ("/score", {"content": b""}),
], ids=["upload-to-jpg-mimetype", "raw-body-to-jpg-mimetype", "raw-body-to-png-header", "no-image-400"])
def test_binary_in_image_out(images: ServerPair, path: str, request_kwargs: dict) -> None:
    answer = exchange(images, "POST", path, **request_kwargs).assert_same()
    if answer.reference.status_code == 200:
        assert answer.shipyard.content == bytes(255 - byte for byte in PICTURE)
        assert answer.shipyard.headers["content-type"].startswith("image/")
