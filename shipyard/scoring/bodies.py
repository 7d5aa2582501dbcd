"""Reading ``/score`` requests the way azmlinfsrv does; shared by every scorer.

GET requests carry their input in the query string: each value is parsed as JSON when it is JSON
(``?a=1&b=[1,2]``) and kept as text otherwise, and a repeated key becomes a list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.errors import BadRequestError
from shipyard.scoring import json_codec
from shipyard.scoring.base import ScoreRequest


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def query_values(query: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """``?a=1&b=x&b=y`` → ``{"a": 1, "b": ["x", "y"]}``."""
    grouped: dict[str, list[Any]] = {}
    for key, value in query:
        grouped.setdefault(key, []).append(_json_value(value))
    return {key: values[0] if len(values) == 1 else values for key, values in grouped.items()}


def decode_body(body: bytes) -> str:
    """The body as text (``run(data)`` always receives ``str``).

    Raises:
        BadRequestError: the body is not UTF-8.
    """
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequestError(f"Input cannot be decoded as UTF-8: {exc}") from None  # azmlinfsrv's words


def is_json_content_type(headers: Mapping[str, str]) -> bool:
    """``application/json`` or ``application/<x>+json``, what werkzeug's ``is_json`` accepts."""
    value = headers.get("content-type") or headers.get("Content-Type") or ""
    mimetype = value.split(";", 1)[0].strip().lower()
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def json_document(request: ScoreRequest) -> Any:
    """The request's JSON input: the parsed body, or for GET the query parameters as an object.

    Raises:
        BadRequestError: empty or invalid JSON body.
    """
    if request.method == "GET":
        return query_values(request.query)
    body = request.body
    if not body.strip():
        raise BadRequestError("request body is empty; expected a JSON document such as {\"data\": [...]}")
    try:
        return json_codec.loads(body)
    except ValueError as exc:
        raise BadRequestError(f"request body is not valid JSON: {exc}") from None


def named_inputs(document: Any, input_names: Sequence[str]) -> dict[str, Any]:
    """Which JSON value of a ``/score`` document feeds which model input.

    Accepted forms: ``{"inputs": {"<input>": ...}}``, ``{"<input>": ...}``, and for a model with
    one input also ``{"data": [...]}``, ``{"inputs": [...]}`` or a bare list.

    Raises:
        BadRequestError: the document fits none of these; the message shows the forms and names.
    """
    names = list(input_names)
    single = names[0] if len(names) == 1 else None
    if isinstance(document, dict):
        for wrapper in ("inputs", "data"):  # {"inputs": {...} or [...]}, or Azure's {"data": [...]}
            if wrapper in document and wrapper not in names:
                document = document[wrapper]
                break
    if isinstance(document, list) and single:
        return {single: document}
    if not isinstance(document, dict):
        raise BadRequestError(_input_forms("the body is a JSON " + type(document).__name__, names))
    unknown = [key for key in document if key not in names]
    if unknown:
        raise BadRequestError(_input_forms(f"unknown input(s) {unknown}", names))
    return document


def _input_forms(problem: str, names: list[str]) -> str:
    forms = '{"inputs": {"<input>": [...]}} or {"<input>": [...]}'
    if len(names) == 1:
        forms = '{"data": [...]}, ' + forms
    return f"{problem}; send {forms} with the model's inputs {names}"
