"""A @rawhttp script that answers in every way scripts build AMLResponses (``?case=`` picks one)."""

import json

from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse


def init():
    pass


def _late_changes():
    response = AMLResponse("created", 200)
    response.status_code = 201
    response.headers["X-Late"] = "set after construction"
    response.mimetype = "text/plain"
    return response


def _cookies():
    response = AMLResponse(json.dumps({"ok": True}), 200, {"Content-Type": "application/json"})
    response.set_cookie("session", "abc123")
    # no max_age: its Expires would be a clock reading, different on the two servers
    response.set_cookie("theme", "dark", path="/score", httponly=True, samesite="Lax")
    return response


def _stream_text():
    def lines():
        for index in range(5):
            yield f"line {index}\n"
    return AMLResponse(lines(), 200, {"Content-Type": "text/plain"})


def _stream_json_lines():
    def records():
        for index in range(3):
            yield json.dumps({"token": index}) + "\n"
    response = AMLResponse(records(), 200)
    response.mimetype = "application/x-ndjson"
    return response


def _stream_bytes():
    return AMLResponse((bytes([index]) * 1000 for index in range(4)), 200, {"Content-Type": "application/octet-stream"})


CASES = {
    "text": lambda: AMLResponse("plain words", 200),
    "bytes": lambda: AMLResponse(b"\x00\x01binary", 200),
    "json-str": lambda: AMLResponse({"a": [1, 2], "b": None}, 200, json_str=True),
    "json-str-string": lambda: AMLResponse("a string", 200, json_str=True),
    "none": lambda: AMLResponse(None, 202),
    "dict-without-json-str": lambda: AMLResponse({"first": 1, "second": 2}, 200),
    "status-and-header": lambda: AMLResponse("nope", 422, {"X-Reason": "asked"}),
    "comma-header": lambda: AMLResponse("x", 200, {"X-Multi": "a, b,c"}),
    "content-type-header": lambda: AMLResponse("<x/>", 200, {"Content-Type": "application/xml"}),
    "run-function-failed": lambda: AMLResponse("partial", 200, run_function_failed=True),
    "server-error": lambda: AMLResponse("model broke", 503),
    "late-changes": _late_changes,
    "cookies": _cookies,
    "stream-text": _stream_text,
    "stream-ndjson": _stream_json_lines,
    "stream-bytes": _stream_bytes,
    "plain-dict": lambda: {"returned": "a dict"},
    "plain-string": lambda: "returned a string",
}


@rawhttp
def run(request):
    return CASES[request.args.get("case", "text")]()
