"""@rawhttp scripts get an AMLRequest and answer with AMLResponse, streaming included."""

from __future__ import annotations

import json

import pytest
from werkzeug.exceptions import BadRequestKeyError, UnsupportedMediaType

from shipyard.scoring.entry_script.aml_request import AMLRequest
from shipyard.scoring.entry_script.aml_response import AMLResponse
from shipyard.scoring.entry_script.outputs import to_score_response
from tests.scoring.conftest import score_request


@pytest.fixture
def raw(load_script):
    return load_script("rawhttp_score.py")


def test_plain_return_value_is_json_and_request_is_an_aml_request(raw):
    response = raw.score(score_request('{"x": 1}'))

    assert response.status_code == 200 and response.media_type == "application/json"
    assert json.loads(response.body) == {"method": "POST", "json": {"x": 1}, "text": '{"x": 1}', "is_aml_request": True}


def test_get_sees_repeated_query_args_and_full_path(raw):
    response = raw.score(score_request(method="GET", query=[("k", "1"), ("k", "2")]))

    assert json.loads(response.body) == {"args": ["1", "2"], "path": "/score?k=1&k=2"}


def test_aml_response_sets_status_headers_and_run_function_failed(raw):
    response = raw.score(score_request("{}", query=[("fail", "1")]))

    assert response.status_code == 422
    assert response.body == b"bad input"
    assert response.media_type == "text/html; charset=utf-8"  # Flask's default, as under azmlinfsrv
    assert response.headers == [("X-Reason", "asked to fail")]
    assert response.run_function_failed is True


def test_binary_body_with_its_own_content_type(raw):
    response = raw.score(score_request(b"\x89PNG\x00\xff", content_type="image/png"))

    assert response.body == b"\xff\x00GNP\x89" and response.media_type == "image/png"


def test_get_json_on_a_non_json_body_raises_werkzeugs_error(raw):
    # werkzeug's 415; raised inside run(), azmlinfsrv (and so Shipyard) answers it with a 500
    with pytest.raises(UnsupportedMediaType):
        raw.score(score_request("hello", content_type="text/plain"))


def test_azmlinfsrv_import_path_form_upload_and_json_str(load_script):
    scorer = load_script("rawhttp_server_score.py")
    boundary = "XyZ"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nkitten\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"cat.png\"\r\n"
        f"Content-Type: image/png\r\n\r\n"
    ).encode() + b"\x89PNG1234" + f"\r\n--{boundary}--\r\n".encode()

    response = scorer.score(score_request(body, content_type=f"multipart/form-data; boundary={boundary}"))

    assert response.status_code == 201 and response.media_type == "application/json"
    assert json.loads(response.body) == {"field": "kitten", "filename": "cat.png", "size": 8}


def test_generator_message_is_streamed_chunk_by_chunk(load_script):
    scorer = load_script("streaming_score.py")

    response = scorer.score(score_request(method="GET", query=[("n", "3")]))

    assert not isinstance(response.body, bytes)
    assert list(response.body) == [b"chunk 0\n", b"chunk 1\n", b"chunk 2\n"]
    assert response.media_type == "text/plain"


@pytest.mark.parametrize(("message", "kwargs", "body", "media_type"), [
    (None, {}, b"{}", "application/json"),
    ("already text", {"json_str": True}, b'"already text"', "application/json"),
    ({"a": [1, 2]}, {}, b"a", "text/html; charset=utf-8"),  # werkzeug iterates a dict: its keys, as under Flask
    ("<b>hi</b>", {}, b"<b>hi</b>", "text/html; charset=utf-8"),
    (b"\x89PNG", {"response_headers": {"Content-Type": "image/png"}}, b"\x89PNG", "image/png"),
])
def test_aml_response_body_rules(message, kwargs, body, media_type):
    response = to_score_response(AMLResponse(message, 200, **kwargs))

    assert (response.body, response.media_type) == (body, media_type)


def test_aml_request_offers_the_werkzeug_surface_scripts_use():
    request = AMLRequest(score_request(
        "a=1&a=2&b=x", content_type="application/x-www-form-urlencoded; charset=utf-8",
        headers={"Cookie": "session=abc; theme=dark", "Content-Length": "11"}, query=[("q", "5")],
    ))

    assert request.url == "http://testserver/score?q=5"
    assert request.args.get("q", type=int) == 5 and request.args.get("missing", "d") == "d"
    assert request.form.getlist("a") == ["1", "2"] and request.values.to_dict() == {"q": "5", "a": "1", "b": "x"}
    assert request.mimetype == "application/x-www-form-urlencoded"
    assert request.mimetype_params == {"charset": "utf-8"}
    assert request.content_length == 11
    assert request.cookies.to_dict() == {"session": "abc", "theme": "dark"}
    assert request.get_json(silent=True) is None
    assert request.get_json(force=True, silent=True) is None
    with pytest.raises(BadRequestKeyError):
        request.args["nope"]


def test_headers_iterate_as_name_value_pairs_and_mimetype_can_be_set():
    request = AMLRequest(score_request("x", headers={"X-Thing": "1"}))
    assert ("X-Thing", "1") in [(name, value) for name, value in request.headers]  # was a ValueError

    response = AMLResponse(b"\xff\xd8", 200)
    response.mimetype = "image/jpg"
    assert to_score_response(response).media_type == "image/jpg"  # was sent as text/html


def test_set_cookie_sends_one_header_per_cookie():
    response = AMLResponse("ok", 200)
    response.set_cookie("a", "1")
    response.set_cookie("b", "2", httponly=True)
    cookies = [value for name, value in to_score_response(response).headers if name == "Set-Cookie"]
    assert cookies == ["a=1; Path=/", "b=2; HttpOnly; Path=/"]


def test_only_rawhttp_scripts_import_werkzeug(tmp_path):
    """The plain JSON /score path never loads werkzeug; a @rawhttp script does, on its first request."""
    import subprocess
    import sys
    from pathlib import Path

    scripts = Path(__file__).resolve().parents[1] / "fixtures" / "scripts"
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from shipyard.scoring import ModelInfo, ScoreRequest, load_scorer\n"
        "def loaded(name):\n"
        "    scorer = load_scorer(ModelInfo(name='m', version='1', model_dir=Path(sys.argv[2]),\n"
        "                                   entry_script=Path(sys.argv[1]) / name))\n"
        "    scorer.score(ScoreRequest('POST', '/score', {'content-type': 'application/json'}, [], b'{}'))\n"
        "    return 'werkzeug' in sys.modules\n"
        "print(loaded('echo_score.py'), loaded('rawhttp_score.py'))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe, str(scripts), str(tmp_path)],
                            capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True"], result.stderr
